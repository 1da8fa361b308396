using ServeAspire.Controller.Checkpoints;
using ServeAspire.Model;

namespace ServeAspire.Controller.Routing;

/// <summary>
/// Publishes the routing table (Ray's LongPollHost) when, and only when, the routes change. The
/// version continues from the stored one, and is at least the clock in milliseconds × 1024: so it
/// keeps growing even when Redis lost its data (restarted without AOF, flushed, failed over to a
/// replica that lagged) and proxies, which ignore a table older than theirs, never keep stale routes.
/// </summary>
public sealed class RoutingTablePublisher(IClusterStore store, TimeProvider? time = null)
{
    private RoutingTable? _last;

    /// <returns>The table now published (the previous one when nothing changed).</returns>
    public async Task<RoutingTable> PublishAsync(double? requestTimeoutS, IReadOnlyList<RouteEntry> routes, long token, CancellationToken cancellationToken)
    {
        _last ??= await store.LoadRoutesAsync(cancellationToken) ?? RoutingTable.Empty;
        var floor = time is null ? 0 : time.GetUtcNow().ToUnixTimeMilliseconds() << 10;
        var next = Next(_last, requestTimeoutS, routes, floor);
        if (ReferenceEquals(next, _last)) return _last;
        await store.PublishRoutesAsync(next, token, cancellationToken);
        _last = next;
        return next;
    }

    /// <summary>Forgets the last table (a new tenure re-reads the stored one).</summary>
    public void Reset() => _last = null;

    /// <summary>The table to publish after <paramref name="previous"/>: itself when the routes are the same.</summary>
    /// <param name="minVersion">A floor for the new version (see the class summary).</param>
    public static RoutingTable Next(RoutingTable previous, double? requestTimeoutS, IReadOnlyList<RouteEntry> routes, long minVersion = 0)
    {
        var candidate = new RoutingTable(Math.Max(previous.Version + 1, minVersion), requestTimeoutS, routes);
        return previous.Version > 0 && candidate.SameRoutesAs(previous) ? previous : candidate;
    }
}
