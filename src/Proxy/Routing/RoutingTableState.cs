using ServeAspire.Model;

namespace ServeAspire.Proxy.Routing;

/// <summary>
/// The proxy's cached routing table. Only a newer version replaces it, so a late poll can never
/// roll back a pushed update; the table stays in place while the controller or Redis is down.
/// </summary>
internal sealed class RoutingTableState
{
    private Snapshot _current = new(RoutingTable.Empty, new RouteMatcher([]), false);

    public sealed record Snapshot(RoutingTable Table, RouteMatcher Matcher, bool Loaded);

    public Snapshot Current => Volatile.Read(ref _current);

    /// <summary>Raised after a newer table was applied.</summary>
    public event Action<RoutingTable>? Changed;

    /// <returns>True when <paramref name="table"/> was newer and is now current.</returns>
    public bool TryApply(RoutingTable table)
    {
        while (true)
        {
            var current = Current;
            if (current.Loaded && table.Version <= current.Table.Version) return false;
            var next = new Snapshot(table, new RouteMatcher(table.Routes), true);
            if (Interlocked.CompareExchange(ref _current, next, current) != current) continue;
            Changed?.Invoke(table);
            return true;
        }
    }
}
