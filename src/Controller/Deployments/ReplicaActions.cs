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
}

/// <param name="Replicas">Null when the node is registered but did not answer this tick (no news, not death).</param>
public sealed record NodeObservation(NodeRegistration Node, NodeReplicasResponse? Replicas);

/// <summary>A side effect the state machine asks for; the control loop performs it.</summary>
public abstract record ReplicaAction(NodeRegistration Node, string ReplicaId);

public sealed record StartReplicaAction(NodeRegistration Node, StartReplicaRequest Request) : ReplicaAction(Node, Request.ReplicaId);

public sealed record StopReplicaAction(NodeRegistration Node, string ReplicaId) : ReplicaAction(Node, ReplicaId);
