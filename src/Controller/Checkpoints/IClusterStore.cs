using ServeAspire.Controller.Leadership;
using ServeAspire.Model;

namespace ServeAspire.Controller.Checkpoints;

/// <summary>
/// Everything the controller reads from and writes to the shared store (Ray's GCS KV), as one seam.
/// Writes of controller state carry the leader's fencing token and are checked inside the store
/// (atomically), so a deposed leader can never overwrite its successor's state.
/// </summary>
public interface IClusterStore
{
    /// <summary>Every node ever registered, and whether its liveness key is current.</summary>
    Task<IReadOnlyList<(NodeRegistration Registration, bool Alive)>> GetNodesAsync(CancellationToken cancellationToken);

    /// <summary>Every proxy ever registered, and whether its liveness key is current.</summary>
    Task<IReadOnlyList<(ProxyRegistration Registration, bool Alive)>> GetProxiesAsync(CancellationToken cancellationToken);

    /// <summary>Every proxy's last report of its ongoing requests per deployment (the autoscaler filters out stale ones).</summary>
    Task<IReadOnlyList<OngoingRequestsReport>> GetOngoingRequestsAsync(CancellationToken cancellationToken);

    /// <summary>Deletes a dead registration (kind "node" or "proxy"), unless its heartbeat came back meanwhile.</summary>
    Task ForgetRegistrationAsync(string kind, string id, CancellationToken cancellationToken);

    Task<string?> LoadConfigAsync(CancellationToken cancellationToken);
    /// <exception cref="FencedException">the token is stale.</exception>
    Task SaveConfigAsync(string checkpoint, long token, CancellationToken cancellationToken);
    Task<string?> LoadStateAsync(CancellationToken cancellationToken);
    /// <exception cref="FencedException">the token is stale.</exception>
    Task SaveStateAsync(string checkpoint, long token, CancellationToken cancellationToken);
    Task<RoutingTable?> LoadRoutesAsync(CancellationToken cancellationToken);
    /// <summary>
    /// Stores the table's index, the entries that changed in this version (those whose entry version
    /// is the table's) and drops <paramref name="removedKeys"/>, atomically; then announces the version
    /// on the routes channel.
    /// </summary>
    /// <exception cref="FencedException">the token is stale.</exception>
    Task PublishRoutesAsync(RoutingTable table, IReadOnlyCollection<string> removedKeys, long token, CancellationToken cancellationToken);
    /// <summary>The newest fencing token ever issued (0: no controller has ever led this cluster).</summary>
    Task<long> CurrentTokenAsync(CancellationToken cancellationToken);
    /// <summary>Checks that <paramref name="token"/> is still current (before acting on nodes).</summary>
    Task<bool> IsTokenCurrentAsync(long token, CancellationToken cancellationToken);
    /// <summary>Calls <paramref name="onEvent"/> for each node event (replica exits).</summary>
    Task SubscribeEventsAsync(Action<ClusterEvent> onEvent);

    /// <summary>Takes the lease if free (new token), or extends it if we hold it; -1 when someone else holds it.</summary>
    Task<long> AcquireLeaseAsync(string holder, string address, TimeSpan ttl, CancellationToken cancellationToken);
    /// <summary>Extends the lease only if we hold it with this token; false means leadership is lost.</summary>
    Task<bool> RenewLeaseAsync(string holder, long token, TimeSpan ttl, CancellationToken cancellationToken);
    Task ReleaseLeaseAsync(string holder, CancellationToken cancellationToken);
    /// <summary>The lease and how long it has left in the store (null: nobody holds it).</summary>
    Task<LeaseView?> GetLeaseAsync(CancellationToken cancellationToken);
}
