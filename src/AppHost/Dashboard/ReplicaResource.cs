namespace ServeAspire.AppHost.Dashboard;

/// <summary>
/// One Serve replica as a dashboard resource, created at run time when the controller first reports it
/// (Aspire streams any resource it gets snapshots for, declared or not; measured in docs/dashboard.md).
/// </summary>
internal sealed class ReplicaResource(string name, string replicaId) : Resource(name)
{
    public string ReplicaId { get; } = replicaId;
}

/// <summary>The cluster as a whole: its applications' status, and the drills that act on the whole cluster.</summary>
internal sealed class ServeClusterResource(string name) : Resource(name)
{
    public const string ResourceType = "ServeCluster";
}
