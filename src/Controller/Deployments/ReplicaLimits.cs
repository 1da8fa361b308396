namespace ServeAspire.Controller.Deployments;

/// <summary>Bounds on starting replicas, so no config can cause a spawn storm.</summary>
/// <param name="MaxStartingPerNode">Replicas starting at once on one node (process start and constructor are the costly part).</param>
/// <param name="MaxStartingPerDeployment">Replicas of one deployment starting at once.</param>
/// <param name="StartupTimeout">A replica not RUNNING this long after placement counts as a constructor failure.</param>
/// <param name="RollingUpdateShare">
/// The share of a deployment's target replaced at once in a rolling update (Ray replaces about 20 %):
/// that many new replicas start on top of the target, and old ones leave only as new ones run.
/// </param>
public sealed record ReplicaLimits(int MaxStartingPerNode, int MaxStartingPerDeployment, TimeSpan StartupTimeout, double RollingUpdateShare = ReplicaLimits.DefaultRollingUpdateShare)
{
    public const double DefaultRollingUpdateShare = 0.2;
    public static ReplicaLimits Default { get; } = new(4, 16, TimeSpan.FromMinutes(5));

    /// <summary>New replicas a rolling update may run above the target at once: at least one.</summary>
    public int MaxSurge(int target) => Math.Max(1, (int)Math.Ceiling(target * RollingUpdateShare));
}
