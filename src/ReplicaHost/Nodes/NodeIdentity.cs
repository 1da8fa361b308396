namespace ServeAspire.ReplicaHost.Nodes;

/// <summary>This incarnation of the node: a restarted node has the same id and a new instance id.</summary>
internal sealed class NodeIdentity
{
    public string InstanceId { get; } = Guid.NewGuid().ToString("N")[..12];
    public string? Address { get; set; }
    public volatile bool Draining;
}
