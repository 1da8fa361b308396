namespace ServeAspire.Controller.Deployments;

/// <summary>Bounds on starting replicas, so no config can cause a spawn storm.</summary>
/// <param name="MaxStartingPerNode">Replicas starting at once on one node (process start and constructor are the costly part).</param>
/// <param name="MaxStartingPerDeployment">Replicas of one deployment starting at once.</param>
/// <param name="StartupTimeout">A replica not RUNNING this long after placement counts as a constructor failure.</param>
public sealed record ReplicaLimits(int MaxStartingPerNode, int MaxStartingPerDeployment, TimeSpan StartupTimeout)
{
    public static ReplicaLimits Default { get; } = new(4, 16, TimeSpan.FromMinutes(5));
}
