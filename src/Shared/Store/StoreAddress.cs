using Microsoft.Extensions.Configuration;

namespace ServeAspire.Store;

/// <summary>
/// The store address every component reads (<c>ConnectionStrings:redis</c>). Besides a
/// StackExchange.Redis connection string (including its Sentinel form <c>host:26379,serviceName=mymaster</c>),
/// a Sentinel URL <c>sentinel://[:password@]host:port[,host:port…]/serviceName</c> is accepted and
/// turned into that form, so every component follows the primary the Sentinels name.
/// </summary>
public static class StoreAddress
{
    public const string ConnectionName = "redis";

    public static string Normalize(string connectionString)
    {
        const string scheme = "sentinel://";
        if (!connectionString.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return connectionString;
        var rest = connectionString[scheme.Length..];
        string? password = null;
        var at = rest.LastIndexOf('@');
        if (at >= 0)
        {
            var userInfo = rest[..at];
            password = userInfo.Contains(':') ? userInfo[(userInfo.IndexOf(':') + 1)..] : userInfo;
            rest = rest[(at + 1)..];
        }
        var slash = rest.IndexOf('/');
        if (slash <= 0 || slash == rest.Length - 1)
            throw new FormatException($"a Sentinel address must name its service: sentinel://host:port[,host:port]/serviceName (got '{connectionString}')");
        var hosts = rest[..slash].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var service = rest[(slash + 1)..];
        var parts = new List<string>(hosts.Select(h => h.Contains(':') ? h : h + ":26379")) { $"serviceName={Uri.UnescapeDataString(service)}" };
        if (!string.IsNullOrEmpty(password)) parts.Add($"password={Uri.UnescapeDataString(password)}");
        parts.Add("abortConnect=false");
        return string.Join(',', parts);
    }

    /// <summary>Rewrites <c>ConnectionStrings:redis</c> in place when it is a Sentinel URL.</summary>
    public static void NormalizeIn(IConfiguration configuration)
    {
        var key = $"ConnectionStrings:{ConnectionName}";
        if (configuration[key] is { } value && Normalize(value) is var normalized && normalized != value) configuration[key] = normalized;
    }
}
