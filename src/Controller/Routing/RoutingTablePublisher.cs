using ServeAspire.Controller.Checkpoints;
using ServeAspire.Model;

namespace ServeAspire.Controller.Routing;

/// <summary>
/// Publishes the routing table (Ray's LongPollHost) when, and only when, the routes change. The
/// version continues from the stored one, so it only grows across controller restarts.
/// </summary>
public sealed class RoutingTablePublisher(IClusterStore store)
{
    private RoutingTable? _last;

    /// <returns>The table now published (the previous one when nothing changed).</returns>
    public async Task<RoutingTable> PublishAsync(double? requestTimeoutS, IReadOnlyList<RouteEntry> routes, long token, CancellationToken cancellationToken)
    {
        _last ??= await store.LoadRoutesAsync(cancellationToken) ?? RoutingTable.Empty;
        var next = Next(_last, requestTimeoutS, routes);
        if (ReferenceEquals(next, _last)) return _last;
        await store.PublishRoutesAsync(next, token, cancellationToken);
        _last = next;
        return next;
    }

    /// <summary>Forgets the last table (a new tenure re-reads the stored one).</summary>
    public void Reset() => _last = null;

    /// <summary>The table to publish after <paramref name="previous"/>: itself when the routes are the same.</summary>
    public static RoutingTable Next(RoutingTable previous, double? requestTimeoutS, IReadOnlyList<RouteEntry> routes)
    {
        var candidate = new RoutingTable(previous.Version + 1, requestTimeoutS, routes);
        return previous.Version > 0 && candidate.SameRoutesAs(previous) ? previous : candidate;
    }
}
