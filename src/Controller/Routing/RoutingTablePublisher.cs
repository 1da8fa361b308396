using ServeAspire.Controller.Checkpoints;
using ServeAspire.Model;

namespace ServeAspire.Controller.Routing;

/// <summary>
/// Publishes the routing table (Ray's LongPollHost) when, and only when, the routes change, and
/// then only the deployments whose entries changed: each entry keeps the version at which it last
/// changed, so proxies fetch those entries and nothing else. The version continues from the stored
/// one, and is at least the clock in milliseconds × 1024: so it keeps growing even when Redis lost
/// its data (restarted without AOF, flushed, failed over to a replica that lagged) and proxies,
/// which ignore a table older than theirs, never keep stale routes.
/// </summary>
public sealed class RoutingTablePublisher(IClusterStore store, TimeProvider? time = null)
{
    private RoutingTable? _last;

    /// <summary>The table last published or loaded in this tenure (null before the first tick).</summary>
    public RoutingTable? Current => _last;

    /// <returns>The table now published (the previous one when nothing changed).</returns>
    public async Task<RoutingTable> PublishAsync(double? requestTimeoutS, IReadOnlyList<RouteEntry> routes, long token, CancellationToken cancellationToken)
    {
        _last ??= await store.LoadRoutesAsync(cancellationToken) ?? RoutingTable.Empty;
        var now = time?.GetUtcNow().ToUnixTimeMilliseconds() ?? 0;
        var next = Next(_last, requestTimeoutS, routes, now << 10, now);
        if (ReferenceEquals(next, _last)) return _last;
        var removed = _last.Routes.Select(r => r.Key).Except(next.Routes.Select(r => r.Key), StringComparer.Ordinal).ToList();
        await store.PublishRoutesAsync(next, removed, token, cancellationToken);
        _last = next;
        return next;
    }

    /// <summary>Forgets the last table (a new tenure re-reads the stored one).</summary>
    public void Reset() => _last = null;

    /// <summary>The table to publish after <paramref name="previous"/>: itself when the routes are the same.</summary>
    /// <param name="minVersion">A floor for the new version (see the class summary).</param>
    /// <param name="publishedAtMs">When it is published (Unix ms), carried to the proxies.</param>
    public static RoutingTable Next(RoutingTable previous, double? requestTimeoutS, IReadOnlyList<RouteEntry> routes, long minVersion = 0, long publishedAtMs = 0)
    {
        var version = Math.Max(previous.Version + 1, minVersion);
        var before = new Dictionary<string, RouteEntry>(previous.Routes.Count, StringComparer.Ordinal);
        foreach (var r in previous.Routes) before[r.Key] = r;
        var versions = new Dictionary<string, long>(routes.Count, StringComparer.Ordinal);
        var changed = routes.Count != previous.Routes.Count || requestTimeoutS != previous.RequestTimeoutS;
        foreach (var route in routes)
        {
            if (before.TryGetValue(route.Key, out var old) && old.SameAs(route))
                versions[route.Key] = previous.EntryVersions.GetValueOrDefault(route.Key, previous.Version);
            else
            {
                versions[route.Key] = version;
                changed = true;
            }
        }
        if (previous.Version > 0 && !changed) return previous;
        return new RoutingTable(version, requestTimeoutS, routes) { EntryVersions = versions, PublishedAtMs = publishedAtMs };
    }
}
