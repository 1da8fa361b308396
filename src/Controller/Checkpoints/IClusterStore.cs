using ServeAspire.Model;

namespace ServeAspire.Controller.Checkpoints;

/// <summary>Everything the controller reads from and writes to the shared store (Ray's GCS KV), as one seam.</summary>
public interface IClusterStore
{
    /// <summary>Nodes whose liveness key has not expired.</summary>
    Task<IReadOnlyList<NodeRegistration>> GetLiveNodesAsync(CancellationToken cancellationToken);

    /// <summary>Every node ever registered, and whether its liveness key is current.</summary>
    Task<IReadOnlyList<(NodeRegistration Registration, bool Alive)>> GetNodesAsync(CancellationToken cancellationToken);

    /// <summary>Every proxy ever registered, and whether its liveness key is current.</summary>
    Task<IReadOnlyList<(ProxyRegistration Registration, bool Alive)>> GetProxiesAsync(CancellationToken cancellationToken);

    Task<string?> LoadConfigAsync(CancellationToken cancellationToken);
    Task SaveConfigAsync(string checkpoint, CancellationToken cancellationToken);
    Task<string?> LoadStateAsync(CancellationToken cancellationToken);
    Task SaveStateAsync(string checkpoint, CancellationToken cancellationToken);
    Task<RoutingTable?> LoadRoutesAsync(CancellationToken cancellationToken);
    /// <summary>Stores the table and announces its version on the routes channel.</summary>
    Task PublishRoutesAsync(RoutingTable table, CancellationToken cancellationToken);
    /// <summary>Calls <paramref name="onEvent"/> for each node event (replica exits).</summary>
    Task SubscribeEventsAsync(Action<ClusterEvent> onEvent);
}
