using ServeAspire.Model;

namespace ServeAspire.Controller.Deployments;

/// <summary>What the controller observed this tick: every live node and, if it answered, its replicas.</summary>
/// <param name="FirstPlacementHold">
/// Non-null while a deployment with no live replica must not be placed yet (the node set has not
/// settled, see <c>NodeSettleGate</c>): the reason, shown in its status.
/// </param>
public sealed record ClusterObservation(IReadOnlyDictionary<string, NodeObservation> Nodes, string? FirstPlacementHold = null)
{
    /// <summary>Nodes that can take a new replica now: they answered this tick and are not draining.</summary>
    public IReadOnlyList<string> PlaceableNodes() =>
        Nodes.Values.Where(n => n.Replicas is not null && !n.Node.Draining).Select(n => n.Node.NodeId).ToList();

    /// <summary>What node <paramref name="nodeId"/> said of <paramref name="replicaId"/> (O(1)); false when it did not list it.</summary>
    public bool TryFindReplica(string nodeId, string replicaId, out ReplicaProcessInfo info)
    {
        info = null!;
        return Nodes.TryGetValue(nodeId, out var node) && node.ById is { } byId && byId.TryGetValue(replicaId, out info!);
    }
}

/// <param name="Replicas">Null when the node is registered but did not answer this tick (no news, not death).</param>
public sealed record NodeObservation(NodeRegistration Node, NodeReplicasResponse? Replicas)
{
    private Dictionary<string, ReplicaProcessInfo>? _byId;

    /// <summary>The node's replicas by id, built on first use (a node lists each replica once).</summary>
    internal IReadOnlyDictionary<string, ReplicaProcessInfo>? ById =>
        Replicas is null ? null : _byId ??= Replicas.Replicas.DistinctBy(r => r.ReplicaId).ToDictionary(r => r.ReplicaId, StringComparer.Ordinal);
}

/// <summary>A side effect the state machine asks for; the control loop performs it.</summary>
public abstract record ReplicaAction(NodeRegistration Node, string ReplicaId);

public sealed record StartReplicaAction(NodeRegistration Node, StartReplicaRequest Request) : ReplicaAction(Node, Request.ReplicaId);

public sealed record StopReplicaAction(NodeRegistration Node, string ReplicaId) : ReplicaAction(Node, ReplicaId);

/// <summary>Hands a RUNNING replica a new user_config (Ray's reconfigure): no restart.</summary>
public sealed record ReconfigureReplicaAction(NodeRegistration Node, string ReplicaIdToUpdate, ReconfigureReplicaRequest Request) : ReplicaAction(Node, ReplicaIdToUpdate);
