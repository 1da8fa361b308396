using System.Globalization;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace ServeAspire.AppHost.Store;

/// <summary>What the services get from the store, whichever <c>Serve:Store</c> mode built it.</summary>
/// <param name="ConnectionString">The address every service reads as <c>ConnectionStrings__redis</c> (any form StoreAddress accepts).</param>
/// <param name="Resources">The store's resources: services wait for them, the restart policy restarts them.</param>
/// <param name="CaFile">The CA the services trust for the store's TLS certificate (<c>Store__CaFile</c>); null without TLS.</param>
internal sealed record ServeStore(ReferenceExpression ConnectionString, IReadOnlyList<IResourceBuilder<RedisServerResource>> Resources, string? CaFile);

/// <summary>
/// The store in one of three local shapes (<c>Serve:Store</c>):
/// <list type="bullet">
/// <item><c>single</c> (default): one redis-server, password, AOF; address <c>127.0.0.1:port,password=…</c>.</item>
/// <item><c>tls</c>: the same redis-server with only a TLS port (plaintext port 0) and a CA and server certificate
/// generated into the state folder; address <c>rediss://:…@127.0.0.1:port</c>, services trust the CA (<c>Store__CaFile</c>).</item>
/// <item><c>sentinel</c>: a primary and two replicas (<c>redis-0..2</c> on RedisPort..+2) and three Sentinels
/// (<c>sentinel-0..2</c> on SentinelPort..+2, quorum 2, primary down after 1 s); address
/// <c>sentinel://:…@…/serve</c>, so every service follows the primary the Sentinels name.</item>
/// </list>
/// Passwords are only ever in config files (mode 600, in a folder of mode 700) and in the services' environment.
/// </summary>
internal static class ServeStoreExtensions
{
    public const string SentinelService = "serve";

    public static ServeStore AddServeStore(this IDistributedApplicationBuilder builder, ServeOptions serve, string stateDir)
    {
        var password = builder.AddParameter("redis-password", new GenerateParameterDefault { MinLength = 24, Special = false }, secret: true);
        Directory.CreateDirectory(stateDir);
        return serve.StoreMode switch
        {
            StoreMode.Sentinel => AddSentinelStore(builder, serve, stateDir, password.Resource),
            StoreMode.Tls => AddSingle(builder, serve, stateDir, password.Resource, tls: true),
            _ => AddSingle(builder, serve, stateDir, password.Resource, tls: false),
        };
    }

    private static ServeStore AddSingle(IDistributedApplicationBuilder builder, ServeOptions serve, string stateDir, ParameterResource password, bool tls)
    {
        var confPath = Path.Combine(stateDir, "redis.conf");
        var tlsDir = Path.Combine(stateDir, "tls");
        var port = serve.RedisPort.ToString(CultureInfo.InvariantCulture);
        var connection = tls
            ? ReferenceExpression.Create($"rediss://:{password}@127.0.0.1:{port}")
            : ReferenceExpression.Create($"127.0.0.1:{port},password={password},abortConnect=false");
        var redis = builder.AddResource(new RedisServerResource("redis", stateDir, serve.RedisPort, password, connection))
            .WithArgs(confPath);
        var caFile = tls ? StoreCertificates.CaPath(tlsDir) : null;
        AddPingCheck(builder, redis, serve.RedisPort, password, caFile);
        builder.Eventing.Subscribe<BeforeResourceStartedEvent>(redis.Resource, async (_, ct) =>
        {
            var pwd = await password.GetValueAsync(ct) ?? throw new InvalidOperationException("no redis password");
            var conf = DataNodeConf(serve.RedisPort, pwd, Path.Combine(stateDir, "redis"));
            if (tls)
            {
                var files = StoreCertificates.Ensure(tlsDir);
                // TLS only: the plaintext port is off, so nothing can reach the store without it.
                conf.Replace($"port {port}\n", "port 0\n")
                    .AppendLine($"tls-port {port}")
                    .AppendLine($"tls-cert-file \"{files.ServerCert}\"")
                    .AppendLine($"tls-key-file \"{files.ServerKey}\"")
                    .AppendLine($"tls-ca-cert-file \"{files.CaCert}\"")
                    .AppendLine("tls-auth-clients no");
            }
            await WritePrivateAsync(confPath, conf.ToString(), ct);
        });
        return new ServeStore(connection, [redis], caFile);
    }

    private static ServeStore AddSentinelStore(IDistributedApplicationBuilder builder, ServeOptions serve, string stateDir, ParameterResource password)
    {
        var dataPorts = Enumerable.Range(0, 3).Select(i => serve.RedisPort + i).ToArray();
        var sentinelPorts = Enumerable.Range(0, 3).Select(i => serve.SentinelPort + i).ToArray();
        var hosts = string.Join(',', sentinelPorts.Select(p => $"127.0.0.1:{p.ToString(CultureInfo.InvariantCulture)}"));
        var connection = ReferenceExpression.Create($"sentinel://:{password}@{hosts}/{SentinelService}");
        var resources = new List<IResourceBuilder<RedisServerResource>>();
        var sentinelConfs = sentinelPorts.Select((_, j) => Path.Combine(stateDir, $"sentinel-{j}", "sentinel.conf")).ToArray();

        for (var i = 0; i < dataPorts.Length; i++)
        {
            var port = dataPorts[i];
            var dir = Path.Combine(stateDir, $"redis-{i}");
            var conf = Path.Combine(dir, "redis.conf");
            // Through sh only to set umask 077: Redis rewrites its config (CONFIG REWRITE after a failover) with
            // mode 644 & ~umask, and the file holds the password. exec: the PID is redis-server's own.
            var node = builder.AddResource(new RedisServerResource($"redis-{i}", dir, port, password, connection, "/bin/sh"))
                .WithArgs("-c", "umask 077 && exec redis-server \"$0\"", conf);
            AddPingCheck(builder, node, port, password, null);
            builder.Eventing.Subscribe<BeforeResourceStartedEvent>(node.Resource, async (_, ct) =>
            {
                var pwd = await password.GetValueAsync(ct) ?? throw new InvalidOperationException("no redis password");
                // Rejoin as a replica of whichever node the Sentinels name (a restarted old primary must not come
                // back as a second primary); on a first start redis-0 is the primary.
                var primary = await CurrentPrimaryAsync(sentinelPorts, sentinelConfs, pwd, dataPorts[0], ct);
                var text = DataNodeConf(port, pwd, dir).AppendLine($"masterauth \"{pwd}\"");
                if (primary != port) text.AppendLine($"replicaof 127.0.0.1 {primary.ToString(CultureInfo.InvariantCulture)}");
                CreatePrivateDirectory(dir);
                await WritePrivateAsync(conf, text.ToString(), ct);
            });
            resources.Add(node);
        }

        var dataNodes = resources.ToList();
        for (var j = 0; j < sentinelPorts.Length; j++)
        {
            var port = sentinelPorts[j];
            var dir = Path.GetDirectoryName(sentinelConfs[j])!;
            var conf = sentinelConfs[j];
            var sentinel = builder.AddResource(new RedisServerResource($"sentinel-{j}", dir, port, password, connection, "/bin/sh"))
                .WithArgs("-c", "umask 077 && exec redis-server \"$0\" --sentinel", conf);
            AddPingCheck(builder, sentinel, port, password, null);
            // The data nodes first: a Sentinel that starts while the primary is still starting sees it down for more
            // than down-after-milliseconds and fails it over, so a start moved the primary it had just chosen.
            foreach (var node in dataNodes) sentinel.WaitFor(node);
            var others = sentinelPorts.Where(p => p != port).ToArray();
            builder.Eventing.Subscribe<BeforeResourceStartedEvent>(sentinel.Resource, async (_, ct) =>
            {
                var pwd = await password.GetValueAsync(ct) ?? throw new InvalidOperationException("no redis password");
                CreatePrivateDirectory(dir);
                await WritePrivateAsync(conf, await SentinelConfAsync(conf, port, pwd, dir, others, sentinelConfs, dataPorts[0], ct), ct);
            });
            resources.Add(sentinel);
        }
        return new ServeStore(connection, resources, null);
    }

    /// <summary>
    /// A Sentinel's config: kept as the Sentinel last rewrote it (its id, epochs, known replicas and Sentinels,
    /// the primary after a failover) with the passwords brought up to date; written fresh, monitoring the
    /// current primary, when there is none yet.
    /// </summary>
    private static async Task<string> SentinelConfAsync(string conf, int port, string pwd, string dir, int[] otherSentinels, string[] sentinelConfs, int firstPrimary, CancellationToken ct)
    {
        if (File.Exists(conf))
        {
            // The password is generated afresh each run. CONFIG REWRITE keeps requirepass as a `user default` ACL line,
            // which Redis applies after requirepass: kept, it holds the Sentinel to an earlier run's password.
            var kept = (await File.ReadAllLinesAsync(conf, ct))
                .Where(l => !l.StartsWith("requirepass ", StringComparison.Ordinal)
                    && !l.StartsWith("user default ", StringComparison.Ordinal)
                    && !l.StartsWith($"sentinel auth-pass {SentinelService} ", StringComparison.Ordinal)
                    && !l.StartsWith("sentinel sentinel-pass ", StringComparison.Ordinal))
                .ToList();
            if (kept.Any(l => l.StartsWith($"sentinel monitor {SentinelService} ", StringComparison.Ordinal)))
                return string.Join('\n', kept.Append($"requirepass \"{pwd}\"").Append($"sentinel auth-pass {SentinelService} \"{pwd}\"").Append($"sentinel sentinel-pass \"{pwd}\"")) + "\n";
        }
        var primary = await CurrentPrimaryAsync(otherSentinels, sentinelConfs, pwd, firstPrimary, ct);
        return new StringBuilder()
            .AppendLine($"port {port.ToString(CultureInfo.InvariantCulture)}")
            .AppendLine("bind 127.0.0.1")
            .AppendLine("daemonize no")
            .AppendLine($"dir \"{dir}\"")
            .AppendLine($"requirepass \"{pwd}\"")
            .AppendLine($"sentinel sentinel-pass \"{pwd}\"")
            .AppendLine($"sentinel monitor {SentinelService} 127.0.0.1 {primary.ToString(CultureInfo.InvariantCulture)} 2")
            .AppendLine($"sentinel auth-pass {SentinelService} \"{pwd}\"")
            .AppendLine($"sentinel down-after-milliseconds {SentinelService} 1000")
            .AppendLine($"sentinel failover-timeout {SentinelService} 10000")
            .AppendLine($"sentinel parallel-syncs {SentinelService} 1")
            .ToString();
    }

    /// <summary>
    /// The port of the primary now: as a live Sentinel names it; else as the Sentinels last wrote it to their
    /// configs (the one with the newest config epoch: the AppHost restarted after a failover); else the first node.
    /// </summary>
    internal static async Task<int> CurrentPrimaryAsync(IEnumerable<int> sentinelPorts, IEnumerable<string> sentinelConfs, string password, int fallback, CancellationToken ct)
    {
        foreach (var port in sentinelPorts)
        {
            var reply = await Resp.CommandAsync(port, password, null, ct, "SENTINEL", "get-master-addr-by-name", SentinelService);
            if (reply is [_, var p] && int.TryParse(p, CultureInfo.InvariantCulture, out var primary)) return primary;
        }
        var best = (Epoch: -1L, Port: fallback);
        foreach (var conf in sentinelConfs.Where(File.Exists))
        {
            long epoch = 0;
            int? port = null;
            foreach (var line in await File.ReadAllLinesAsync(conf, ct))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f is ["sentinel", "config-epoch", SentinelService, var e]) epoch = long.Parse(e, CultureInfo.InvariantCulture);
                if (f is ["sentinel", "monitor", SentinelService, _, var p, _]) port = int.Parse(p, CultureInfo.InvariantCulture);
            }
            if (port is { } found && epoch > best.Epoch) best = (epoch, found);
        }
        return best.Port;
    }

    private static StringBuilder DataNodeConf(int port, string pwd, string dataDir)
    {
        Directory.CreateDirectory(dataDir);
        return new StringBuilder()
            .Append($"port {port.ToString(CultureInfo.InvariantCulture)}\n")
            .AppendLine("bind 127.0.0.1")
            .AppendLine("protected-mode yes")
            .AppendLine($"requirepass \"{pwd}\"")
            .AppendLine("appendonly yes")
            .AppendLine("appendfsync everysec")
            .AppendLine($"dir \"{dataDir}\"")
            .AppendLine("daemonize no");
    }

    private static void AddPingCheck(IDistributedApplicationBuilder builder, IResourceBuilder<RedisServerResource> resource, int port, ParameterResource password, string? caFile)
    {
        var key = $"{resource.Resource.Name}-ping";
        resource.WithHealthCheck(key);
        builder.Services.AddHealthChecks().AddAsyncCheck(key, async ct =>
        {
            var pwd = await password.GetValueAsync(ct) ?? "";
            return await Resp.CommandAsync(port, pwd, caFile, ct, "PING") is ["PONG"]
                ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy($"{resource.Resource.Name} does not answer PING");
        });
    }

    private static void CreatePrivateDirectory(string dir)
    {
        Directory.CreateDirectory(dir);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    /// <summary>Writes a file that holds a secret: mode 600 before a byte of it is written.</summary>
    internal static async Task WritePrivateAsync(string path, string text, CancellationToken ct)
    {
        const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        if (OperatingSystem.IsWindows())
        {
            await File.WriteAllTextAsync(path, text, ct);
            return;
        }
        if (File.Exists(path)) File.SetUnixFileMode(path, Private);
        await using var stream = new FileStream(path, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = Private });
        await stream.WriteAsync(Encoding.UTF8.GetBytes(text), ct);
    }
}
