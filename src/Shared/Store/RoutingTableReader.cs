using System.Text.Json;
using ServeAspire.Model;
using StackExchange.Redis;

namespace ServeAspire.Store;

/// <summary>
/// Reads the published routing table: the index first, then only the entries whose version differs
/// from a table already held (all of them when none is). The controller loads it whole at the start of
/// a tenure; each proxy reads it on a push or a poll, keeping the entries it has.
/// </summary>
public static class RoutingTableReader
{
    /// <param name="held">The table the caller already has (null: none); its unchanged entries are reused, not fetched.</param>
    /// <returns>The stored table; null when nothing is stored, or nothing newer than <paramref name="held"/>.</returns>
    public static async Task<RoutingTable?> ReadAsync(IDatabase db, StoreKeys keys, RoutingTable? held = null)
    {
        var json = await db.StringGetAsync(keys.RoutesIndex);
        if (!json.HasValue || JsonSerializer.Deserialize(json.ToString(), SharedJson.Web.RoutingIndex) is not { } index) return null;
        if (held is not null && index.Version <= held.Version) return null;
        var have = new Dictionary<string, RouteEntry>(held?.Routes.Count ?? 0, StringComparer.Ordinal);
        if (held is not null)
            foreach (var r in held.Routes) have[r.Key] = r;
        var missing = index.Entries
            .Where(e => !have.ContainsKey(e.Key) || held!.EntryVersions.GetValueOrDefault(e.Key) != e.Version)
            .Select(e => e.Key).ToList();
        var fetched = new Dictionary<string, RouteEntry>(StringComparer.Ordinal);
        if (missing.Count > 0)
        {
            var values = await db.HashGetAsync(keys.RouteEntries, missing.Select(k => (RedisValue)k).ToArray());
            for (var i = 0; i < missing.Count; i++)
                if (values[i].HasValue && JsonSerializer.Deserialize(values[i].ToString(), SharedJson.Web.RouteEntry) is { } entry)
                    fetched[missing[i]] = entry;
        }
        var routes = new List<RouteEntry>(index.Entries.Count);
        var versions = new Dictionary<string, long>(index.Entries.Count, StringComparer.Ordinal);
        foreach (var e in index.Entries)
        {
            // An entry removed between the two reads is left out; the next index says so too.
            if (!fetched.TryGetValue(e.Key, out var route) && !have.TryGetValue(e.Key, out route)) continue;
            routes.Add(route);
            versions[e.Key] = e.Version;
        }
        return new RoutingTable(index.Version, index.RequestTimeoutS, routes) { EntryVersions = versions, PublishedAtMs = index.PublishedAtMs };
    }
}
