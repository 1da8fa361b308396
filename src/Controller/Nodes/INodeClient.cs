using ServeAspire.Model;

namespace ServeAspire.Controller.Nodes;

/// <summary>Calls to a node agent (Ray's ActorReplicaWrapper boundary): the one seam tests fake.</summary>
public sealed record NodeListResult(NodeReplicasResponse? Replicas, bool Gone)
{
    public static NodeListResult NoAnswer { get; } = new(null, false);
}

public interface INodeClient
{
    /// <returns>
    /// The node's replicas; or no replicas and <c>Gone</c> when its port refuses connections (the
    /// process is gone: no need to wait for its heartbeat to expire); or neither when it did not
    /// answer in time (no news).
    /// </returns>
    /// <param name="leaderToken">Sent along so the node learns of a new tenure at once (it refuses older tokens on start/stop).</param>
    Task<NodeListResult> ListReplicasAsync(NodeRegistration node, long leaderToken, CancellationToken cancellationToken);
    /// <param name="leaderToken">This tenure's fencing token: a node refuses it once it has seen a newer one.</param>
    /// <exception cref="Leadership.FencedException">The node refused the token (start and stop).</exception>
    Task<(bool Accepted, string? Error)> StartReplicaAsync(NodeRegistration node, StartReplicaRequest request, long leaderToken, CancellationToken cancellationToken);
    /// <summary>Hands a running replica a new user_config (applied in place). False when the node did not take it (retried later).</summary>
    /// <exception cref="Leadership.FencedException">The node refused the token.</exception>
    Task<bool> ReconfigureReplicaAsync(NodeRegistration node, string replicaId, ReconfigureReplicaRequest request, long leaderToken, CancellationToken cancellationToken);
    /// <summary>The kill API: SIGKILL a replica, restarted in place under its id when the request says so.</summary>
    /// <returns>The replica as the node reports it after the kill (null with an error when the node did not do it).</returns>
    /// <exception cref="Leadership.FencedException">The node refused the token.</exception>
    Task<(ReplicaProcessInfo? Replica, string? Error)> KillReplicaAsync(NodeRegistration node, string replicaId, KillReplicaRequest request, long leaderToken, CancellationToken cancellationToken);
    Task<(bool Accepted, bool Unknown)> StopReplicaAsync(NodeRegistration node, string replicaId, long leaderToken, CancellationToken cancellationToken);
}
