using ServeAspire.Model;
using ServeAspire.Proxy.LoadBalancing;

namespace ServeAspire.Proxy.Routing;

/// <summary>
/// The proxy's cached routing table and the routers that serve it, swapped as one immutable snapshot
/// (as YARP swaps its cluster state): a request sees a table and its routers from the same version,
/// so a new route can never meet a missing router. Only a newer version replaces the snapshot, so a
/// late poll can never roll back a pushed update; it stays in place while the controller or Redis is down.
/// </summary>
/// <param name="coldStartTimeout">
/// How long a request may wait for the first replica of a deployment that scales from zero when the table has
/// no request_timeout_s (which bounds it otherwise); infinite when not given.
/// </param>
internal sealed class RoutingTableState(PowerOfTwoChoicesPolicy policy, TimeProvider? time = null, TimeSpan? coldStartTimeout = null)
{
    private readonly Lock _applyLock = new();
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private Snapshot _current = new(RoutingTable.Empty, new RouteMatcher([]), new Dictionary<string, DeploymentRouter>(), false);
    private readonly Queue<(long Version, double LagMs)> _updates = new();

    /// <summary>One version of the table, its matcher and one router per deployment it routes to.</summary>
    public sealed record Snapshot(RoutingTable Table, RouteMatcher Matcher, IReadOnlyDictionary<string, DeploymentRouter> Routers, bool Loaded)
    {
        public DeploymentRouter? RouterFor(RouteEntry route) => Routers.GetValueOrDefault(route.Key);
    }

    public Snapshot Current => Volatile.Read(ref _current);

    /// <summary>Bounded history of applied versions with how long each took from publish to here (ms, same clock).</summary>
    public IReadOnlyList<(long Version, double LagMs)> RecentUpdates
    {
        get { lock (_updates) return _updates.ToList(); }
    }

    public const int UpdateHistory = 1024;

    /// <returns>True when <paramref name="table"/> was newer and is now current.</returns>
    public bool TryApply(RoutingTable table)
    {
        // One writer at a time: routers are updated in place (keeping their in-flight counts), which
        // must not interleave; readers never take this lock.
        lock (_applyLock)
        {
            var current = Current;
            if (current.Loaded && table.Version <= current.Table.Version) return false;
            var routers = new Dictionary<string, DeploymentRouter>(table.Routes.Count, StringComparer.Ordinal);
            var coldLimit = table.RequestTimeoutS is null ? coldStartTimeout ?? Timeout.InfiniteTimeSpan : Timeout.InfiniteTimeSpan;
            foreach (var route in table.Routes)
            {
                if (!current.Routers.TryGetValue(route.Key, out var router)) router = new DeploymentRouter(policy, _time);
                router.ColdStartTimeout = coldLimit;
                // An unchanged entry keeps its router as it is; a changed one is updated before the swap
                // (the old snapshot's requests may already use the new replica set: both are valid).
                if (router.Route is null || !router.Route.SameAs(route)) router.Update(route);
                routers[route.Key] = router;
            }
            Volatile.Write(ref _current, new Snapshot(table, new RouteMatcher(table.Routes), routers, true));
            // Routers of deployments that left: no new request reaches them; queued ones are told at once
            // (also those waiting for a first replica: none will come).
            foreach (var (key, gone) in current.Routers)
                if (!routers.ContainsKey(key)) gone.Update(gone.Route with { Replicas = [], ScalesFromZero = false });
            if (table.PublishedAtMs > 0)
                lock (_updates)
                {
                    _updates.Enqueue((table.Version, Math.Max(0, _time.GetUtcNow().ToUnixTimeMilliseconds() - table.PublishedAtMs)));
                    while (_updates.Count > UpdateHistory) _updates.Dequeue();
                }
            return true;
        }
    }
}
