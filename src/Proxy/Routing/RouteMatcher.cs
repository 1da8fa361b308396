using ServeAspire.Model;

namespace ServeAspire.Proxy.Routing;

/// <summary>Longest-prefix match of a request path against the routes' route_prefix (Ray's proxy router).</summary>
internal sealed class RouteMatcher
{
    private readonly RouteEntry[] _byLengthDesc;

    public RouteMatcher(IEnumerable<RouteEntry> routes) =>
        _byLengthDesc = routes.OrderByDescending(r => r.RoutePrefix.Length).ThenBy(r => r.RoutePrefix, StringComparer.Ordinal).ToArray();

    public RouteEntry? Match(string path)
    {
        if (string.IsNullOrEmpty(path)) path = "/";
        foreach (var route in _byLengthDesc)
            if (Matches(route.RoutePrefix, path)) return route;
        return null;
    }

    /// <summary>"/a" matches "/a", "/a/", "/a/b" but not "/ab"; "/" matches everything.</summary>
    internal static bool Matches(string prefix, string path) =>
        prefix == "/" ||
        (path.StartsWith(prefix, StringComparison.Ordinal) && (path.Length == prefix.Length || path[prefix.Length] == '/'));
}
