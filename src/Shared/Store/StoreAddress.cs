using System.Globalization;
using System.Text;
using Microsoft.Extensions.Configuration;
using StackExchange.Redis;

namespace ServeAspire.Store;

/// <summary>
/// The store address every component reads (<c>ConnectionStrings:redis</c>), in any of the forms users
/// already have:
/// <list type="bullet">
/// <item><c>redis://[[user]:password@]host[:port][/db]</c>, the URL KubeRay's <c>RAY_REDIS_ADDRESS</c> takes;</item>
/// <item><c>rediss://…</c>, the same over TLS (the server's certificate is validated: against the system's
/// roots, or the CA in <c>Store:CaFile</c>);</item>
/// <item><c>sentinel://[[user]:password@]host[:port][,host[:port]…]/serviceName[/db]</c>: Sentinels (port 26379
/// by default), every component following the primary they name;</item>
/// <item>a StackExchange.Redis connection string (<c>host:6379,password=…,ssl=true</c>, also its Sentinel form
/// <c>host:26379,serviceName=mymaster</c>), taken as it is.</item>
/// </list>
/// A malformed address is refused with an error naming the part at fault; no error or log line carries the
/// password (<see cref="Redact"/>).
/// </summary>
public sealed record StoreAddress
{
    public const string ConnectionName = "redis";
    public const string ConfigKey = "ConnectionStrings:" + ConnectionName;
    /// <summary>PEM or DER file of the CA that signed the store's TLS certificate (instead of the system's roots).</summary>
    public const string CaFileKey = "Store:CaFile";

    public const int DefaultPort = 6379;
    public const int DefaultSentinelPort = 26379;

    public enum Form { ConnectionString, Redis, Sentinel }

    public required Form Kind { get; init; }
    /// <summary>host:port of the server, or of each Sentinel.</summary>
    public IReadOnlyList<string> Endpoints { get; init; } = [];
    /// <summary>The Sentinel service (the primary's name); null unless <see cref="Kind"/> is Sentinel.</summary>
    public string? ServiceName { get; init; }
    /// <summary>The ACL user (Redis 6+); null: the default user.</summary>
    public string? User { get; init; }
    public string? Password { get; init; }
    public int? Database { get; init; }
    public bool Tls { get; init; }
    /// <summary>For <see cref="Form.ConnectionString"/>: the string itself.</summary>
    public string? ConnectionString { get; init; }

    /// <summary>Whether the address names a replicated store (Sentinel), whose writes can wait for a replica.</summary>
    public bool HasReplicas => Kind == Form.Sentinel;

    /// <summary>Parses any accepted form.</summary>
    /// <exception cref="FormatException">naming the part at fault; never containing the password.</exception>
    public static StoreAddress Parse(string address)
    {
        if (string.IsNullOrWhiteSpace(address))
            throw new FormatException($"the store address ({ConfigKey}) is empty");
        address = address.Trim();
        var schemeEnd = SchemeEnd(address);
        if (schemeEnd < 0) return ParseConnectionString(address);
        var scheme = address[..schemeEnd].ToLowerInvariant();
        return scheme switch
        {
            "redis" or "rediss" or "sentinel" => ParseUrl(address, scheme, address[(schemeEnd + 3)..]),
            _ => throw Error(address, $"unknown scheme '{address[..schemeEnd]}://' (expected redis://, rediss:// or sentinel://)"),
        };
    }

    private static StoreAddress ParseConnectionString(string address)
    {
        try { _ = ConfigurationOptions.Parse(address); }
        catch (Exception ex) when (ex is ArgumentException or FormatException or NotSupportedException)
        {
            // StackExchange.Redis names the option; its message is about the keyword, never the password's value.
            throw Error(address, $"not a valid StackExchange.Redis connection string: {Redact(ex.Message)}");
        }
        return new StoreAddress { Kind = Form.ConnectionString, ConnectionString = address };
    }

    private static StoreAddress ParseUrl(string address, string scheme, string rest)
    {
        var sentinel = scheme == "sentinel";

        string? user = null, password = null;
        var at = rest.LastIndexOf('@');
        if (at >= 0)
        {
            var userInfo = rest[..at];
            rest = rest[(at + 1)..];
            var colon = userInfo.IndexOf(':');
            if (colon < 0)
                throw Error(address, "the user info before '@' has no ':'; write user:password@ or :password@");
            user = Decode(address, userInfo[..colon], "user");
            password = Decode(address, userInfo[(colon + 1)..], "password");
            if (user.Length == 0) user = null;
            if (password.Length == 0) throw Error(address, "the password after ':' is empty; leave out the user info for no password");
        }
        // Only after the user info is cut off: a password may hold '?' or '#'.
        if (rest.IndexOfAny(['?', '#']) is var q and >= 0)
            throw Error(address, $"query or fragment '{rest[q..]}' is not supported: put options in the StackExchange.Redis connection-string form instead");

        var slash = rest.IndexOf('/');
        var hostPart = slash < 0 ? rest : rest[..slash];
        var path = slash < 0 ? "" : rest[(slash + 1)..];
        if (hostPart.Length == 0) throw Error(address, "no host");

        var hosts = hostPart.Split(',');
        if (hosts.Length > 1 && !sentinel)
            throw Error(address, $"{scheme}:// takes one host, got {hosts.Length} ('{hostPart}'); list several Sentinels with sentinel://");
        var endpoints = hosts.Select(h => Endpoint(address, h, sentinel ? DefaultSentinelPort : DefaultPort)).ToList();

        string? service = null;
        int? database = null;
        var segments = path.Length == 0 ? [] : path.Split('/');
        if (sentinel)
        {
            if (segments.Length == 0 || segments[0].Length == 0)
                throw Error(address, "a Sentinel address must name its service: sentinel://host:port[,host:port]/serviceName[/db]");
            service = Decode(address, segments[0], "service name");
            if (segments.Length > 2) throw Error(address, $"unexpected path '/{string.Join('/', segments[2..])}' after the database");
            if (segments.Length == 2) database = DatabaseNumber(address, segments[1]);
        }
        else
        {
            if (segments.Length > 1) throw Error(address, $"unexpected path '/{string.Join('/', segments[1..])}' after the database");
            if (segments.Length == 1 && segments[0].Length > 0) database = DatabaseNumber(address, segments[0]);
        }
        return new StoreAddress
        {
            Kind = sentinel ? Form.Sentinel : Form.Redis,
            Endpoints = endpoints, ServiceName = service, User = user, Password = password, Database = database, Tls = scheme == "rediss",
        };
    }

    private static string Endpoint(string address, string host, int defaultPort)
    {
        host = host.Trim();
        if (host.Length == 0) throw Error(address, "an empty host in the host list");
        string name, port;
        if (host.StartsWith('['))
        {
            var close = host.IndexOf(']');
            if (close < 0) throw Error(address, $"host '{host}': an IPv6 address must end with ']'");
            name = host[..(close + 1)];
            var after = host[(close + 1)..];
            if (after.Length > 0 && after[0] != ':') throw Error(address, $"host '{host}': expected ':port' after ']'");
            port = after.Length > 0 ? after[1..] : "";
        }
        else
        {
            var colon = host.LastIndexOf(':');
            name = colon < 0 ? host : host[..colon];
            port = colon < 0 ? "" : host[(colon + 1)..];
            if (name.Contains(':')) throw Error(address, $"host '{host}': write an IPv6 address in brackets, e.g. [::1]:6379");
        }
        if (name.Length == 0) throw Error(address, $"host '{host}' has no name");
        if (name.IndexOfAny([' ', '=', '"', '\'']) >= 0) throw Error(address, $"host '{name}' contains a character a host name cannot");
        if (port.Length == 0) return $"{name}:{defaultPort.ToString(CultureInfo.InvariantCulture)}";
        if (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var p) || p is < 1 or > 65535)
            throw Error(address, $"port '{port}' of host '{name}' is not a number from 1 to 65535");
        return $"{name}:{p.ToString(CultureInfo.InvariantCulture)}";
    }

    private static int DatabaseNumber(string address, string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var db) && db <= 10_000
            ? db
            : throw Error(address, $"database '{text}' is not a whole number from 0 (e.g. redis://host:6379/0)");

    private static string Decode(string address, string text, string part)
    {
        for (var i = text.IndexOf('%'); i >= 0; i = text.IndexOf('%', i + 1))
            if (i + 2 >= text.Length || !char.IsAsciiHexDigit(text[i + 1]) || !char.IsAsciiHexDigit(text[i + 2]))
                throw Error(address, $"the {part} is not valid percent-encoding (write '%' as %25)");
        return Uri.UnescapeDataString(text);
    }

    /// <summary>Where "://" starts when the text before it is a scheme (letters only); -1 otherwise (a connection string's password may hold "://").</summary>
    private static int SchemeEnd(string address)
    {
        var end = address.IndexOf("://", StringComparison.Ordinal);
        return end > 0 && address[..end].All(char.IsAsciiLetter) ? end : -1;
    }

    private static FormatException Error(string address, string what) =>
        new($"invalid store address {Redact(address)}: {what}");

    /// <summary>
    /// The address with its password replaced by <c>***</c>, safe for errors and logs: the user info of a URL
    /// (everything between <c>://</c> and the last <c>@</c> after the user name), <c>password=…</c> of a
    /// connection string.
    /// </summary>
    public static string Redact(string address)
    {
        var schemeEnd = SchemeEnd(address);
        if (schemeEnd >= 0)
        {
            var start = schemeEnd + 3;
            var at = address.LastIndexOf('@');
            if (at >= start)
            {
                var userInfo = address[start..at];
                var colon = userInfo.IndexOf(':');
                var kept = colon < 0 ? "" : userInfo[..colon];
                return address[..start] + kept + ":***" + address[at..];
            }
        }
        var sb = new StringBuilder();
        var parts = address.Split(',');
        for (var i = 0; i < parts.Length; i++)
        {
            if (i > 0) sb.Append(',');
            var eq = parts[i].IndexOf('=');
            var key = eq < 0 ? "" : parts[i][..eq].Trim();
            sb.Append(key.Equals("password", StringComparison.OrdinalIgnoreCase) ? key + "=***" : parts[i]);
        }
        return sb.ToString();
    }

    /// <summary>This address without its secrets (user, password), as a StackExchange.Redis connection string.</summary>
    public string ToPublicConnectionString()
    {
        if (Kind == Form.ConnectionString) return ConnectionString!;
        var parts = new List<string>(Endpoints);
        if (ServiceName is not null) parts.Add($"serviceName={ServiceName}");
        if (Database is { } db) parts.Add($"defaultDatabase={db.ToString(CultureInfo.InvariantCulture)}");
        if (Tls)
        {
            parts.Add("ssl=true");
            // The name the certificate must carry: the host as written (an IPv6 literal without brackets).
            parts.Add($"sslHost={Endpoints[0][..Endpoints[0].LastIndexOf(':')].Trim('[', ']')}");
        }
        parts.Add("abortConnect=false");
        return string.Join(',', parts);
    }

    /// <summary>
    /// Options for this address: the public part parsed by StackExchange.Redis, then user, password, and the
    /// CA to validate the server's certificate against (<paramref name="caFile"/>; null: the system's roots).
    /// </summary>
    /// <exception cref="FileNotFoundException">the CA file does not exist (the message names its path).</exception>
    public ConfigurationOptions ToOptions(string? caFile = null)
    {
        var options = ConfigurationOptions.Parse(ToPublicConnectionString());
        Apply(options, caFile);
        return options;
    }

    /// <summary>Sets what the public connection string leaves out on options parsed from it.</summary>
    public void Apply(ConfigurationOptions options, string? caFile)
    {
        if (User is not null) options.User = User;
        if (Password is not null) options.Password = Password;
        options.AbortOnConnectFail = false;
        if (!string.IsNullOrEmpty(caFile))
        {
            if (!File.Exists(caFile))
                throw new FileNotFoundException($"{CaFileKey}: the CA file '{caFile}' does not exist", caFile);
            try { options.TrustIssuer(caFile); }
            catch (System.Security.Cryptography.CryptographicException ex)
            {
                throw new InvalidDataException($"{CaFileKey}: '{caFile}' is not a PEM or DER certificate ({ex.Message})", ex);
            }
        }
    }

    /// <summary>
    /// Reads <c>ConnectionStrings:redis</c> (any accepted form), replaces it with its secret-free connection string
    /// (what the Redis client integration parses), and returns the parsed address with the callback that adds the
    /// secrets and the CA (<c>Store:CaFile</c>) to the client's options: pass it to
    /// <c>AddRedisClient(…, configureOptions: …)</c>.
    /// </summary>
    /// <exception cref="FormatException">the address is malformed (the message names the part, never the password).</exception>
    /// <exception cref="FileNotFoundException">Store:CaFile names a file that does not exist.</exception>
    public static (StoreAddress Address, Action<ConfigurationOptions> Configure) Prepare(IConfiguration configuration)
    {
        var raw = configuration[ConfigKey] ?? throw new InvalidOperationException($"no store address: set {ConfigKey} (e.g. ConnectionStrings__redis=redis://:password@host:6379/0)");
        var address = Parse(raw);
        var caFile = configuration[CaFileKey];
        if (!string.IsNullOrEmpty(caFile) && !File.Exists(caFile))
            throw new FileNotFoundException($"{CaFileKey}: the CA file '{caFile}' does not exist", caFile);
        configuration[ConfigKey] = address.ToPublicConnectionString();
        if (address.Kind == Form.Sentinel || address.ServiceName is not null || raw.Contains("serviceName=", StringComparison.OrdinalIgnoreCase))
            ReserveThreadsForSentinelSwitches();
        return (address, options => address.Apply(options, caFile));
    }

    /// <summary>
    /// StackExchange.Redis follows a Sentinel switch (and a node joining or leaving) on pool threads that block
    /// until the new topology answers. On a small machine the thread pool starts with one worker per core and
    /// grows by about one a second, so everything else in the process (a proxy's requests) queued behind those
    /// waits: measured here, a data-path p99 of 750 ms around a failover. Keeping a few more workers ready costs
    /// nothing while idle.
    /// </summary>
    private static void ReserveThreadsForSentinelSwitches()
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, 32), Math.Max(io, 32));
    }

    /// <summary>The address of <paramref name="configuration"/> parsed, without touching it.</summary>
    public static StoreAddress? From(IConfiguration configuration) =>
        configuration[ConfigKey] is { Length: > 0 } raw ? Parse(raw) : null;

    /// <summary>Never the password (records print every property otherwise).</summary>
    public override string ToString() => Kind == Form.ConnectionString
        ? Redact(ConnectionString!)
        : $"{(Kind == Form.Sentinel ? "sentinel" : Tls ? "rediss" : "redis")}://{(Password is null ? "" : $"{User}:***@")}{string.Join(',', Endpoints)}"
          + $"{(ServiceName is null ? "" : "/" + ServiceName)}{(Database is null ? "" : "/" + Database.Value.ToString(CultureInfo.InvariantCulture))}";
}
