using ServeAspire.Model;

namespace ServeAspire.Controller.Nodes;

/// <summary>Calls to a node agent (Ray's ActorReplicaWrapper boundary): the one seam tests fake.</summary>
public interface INodeClient
{
    /// <returns>The node's replicas, or null when it did not answer in time.</returns>
    Task<NodeReplicasResponse?> ListReplicasAsync(NodeRegistration node, CancellationToken cancellationToken);
    Task<(bool Accepted, string? Error)> StartReplicaAsync(NodeRegistration node, StartReplicaRequest request, CancellationToken cancellationToken);
    Task<(bool Accepted, bool Unknown)> StopReplicaAsync(NodeRegistration node, string replicaId, CancellationToken cancellationToken);
}
