using System.Net.Sockets;
using System.Text;
using Aspire.Hosting.Lifecycle;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;

namespace ServeAspire.AppHost;

internal static class ServeResourceExtensions
{
    /// <summary>
    /// redis-server as an executable: password from a generated secret parameter, written to a
    /// config file under the state folder (so it never shows in arguments or logs), AOF on, and a
    /// health check that authenticates and PINGs.
    /// </summary>
    public static IResourceBuilder<RedisServerResource> AddServeRedis(
        this IDistributedApplicationBuilder builder, ServeOptions serve)
    {
        var stateDir = ResolveStateDir(builder, serve);
        var dataDir = Path.Combine(stateDir, "redis");
        var confPath = Path.Combine(stateDir, "redis.conf");
        var password = builder.AddParameter("redis-password", new GenerateParameterDefault { MinLength = 24, Special = false }, secret: true);

        var healthKey = "redis-ping";
        Directory.CreateDirectory(stateDir);
        var redis = builder.AddResource(new RedisServerResource("redis", stateDir, serve.RedisPort, password.Resource))
            .WithArgs(confPath)
            .WithHealthCheck(healthKey);
        builder.Services.AddHealthChecks().AddAsyncCheck(healthKey, async ct =>
        {
            var pwd = await password.Resource.GetValueAsync(ct) ?? "";
            return await PingAsync(serve.RedisPort, pwd, ct) ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy("redis does not answer PING");
        });
        builder.Eventing.Subscribe<BeforeResourceStartedEvent>(redis.Resource, async (_, ct) =>
        {
            Directory.CreateDirectory(dataDir);
            var pwd = await password.Resource.GetValueAsync(ct) ?? throw new InvalidOperationException("no redis password");
            var conf = new StringBuilder()
                .AppendLine($"port {serve.RedisPort}")
                .AppendLine("bind 127.0.0.1")
                .AppendLine("protected-mode yes")
                .AppendLine($"requirepass \"{pwd}\"")
                .AppendLine("appendonly yes")
                .AppendLine("appendfsync everysec")
                .AppendLine($"dir \"{dataDir}\"")
                .AppendLine("daemonize no")
                .ToString();
            await File.WriteAllTextAsync(confPath, conf, ct);
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(confPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        });
        return redis;
    }

    /// <summary>
    /// The cluster token (null when <c>Serve:AuthMode=disabled</c>): a secret parameter whose value is
    /// kept in <c>&lt;state&gt;/auth_token</c> (created with mode 600), so clients on this machine
    /// (curl, tests, the CLI) find it there and it survives AppHost restarts.
    /// </summary>
    public static IResourceBuilder<ParameterResource>? AddServeAuthToken(this IDistributedApplicationBuilder builder, ServeOptions serve)
    {
        if (serve.AuthDisabled) return null;
        var file = Path.Combine(ResolveStateDir(builder, serve), ServeAspire.Security.ClusterToken.FileName);
        var token = new Lazy<string>(() =>
        {
            if (File.Exists(file) && File.ReadAllText(file).Trim() is { Length: >= ServeAspire.Security.ClusterToken.MinLength } existing) return existing;
            var fresh = ServeAspire.Security.ClusterToken.Generate();
            ServeAspire.Security.ClusterToken.WriteFile(file, fresh);
            return fresh;
        });
        return builder.AddParameter("serve-auth-token", () => token.Value, secret: true);
    }

    /// <summary>A service that answers control-plane calls or makes them: it gets the cluster token (or is told auth is off).</summary>
    public static IResourceBuilder<ProjectResource> WithClusterToken(this IResourceBuilder<ProjectResource> project, IResourceBuilder<ParameterResource>? token) =>
        token is null
            ? project.WithEnvironment("Serve__AuthMode", "disabled")
            : project.WithEnvironment(ServeAspire.Security.ClusterToken.EnvVariable, token);

    /// <summary>
    /// What every ServeAspire service gets: the store, the cluster name, to wait for the store, and no HTTPS
    /// certificate: every service speaks plain HTTP on loopback, so Aspire has no TLS to configure and its
    /// "No trusted development certificate" banner does not apply (docs/dashboard.md).
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithServeDefaults(this IResourceBuilder<ProjectResource> project, ServeOptions serve,
        IResourceBuilder<IResourceWithConnectionString> redis) =>
#pragma warning disable ASPIRECERTIFICATES001 // evaluation API; the only switch that says "this resource uses no TLS"
        project
            .WithoutHttpsCertificate()
#pragma warning restore ASPIRECERTIFICATES001
            // The connection string only (ConnectionStrings__redis): not Aspire's REDIS_* split, which would put
            // the password in four more variables and a URI-encoded copy in the published manifest.
            .WithReferenceEnvironment(ReferenceEnvironmentInjectionFlags.ConnectionString)
            .WithReference(redis)
            .WithEnvironment("Controller__Cluster", serve.Cluster)
            .WithEnvironment("Proxy__Cluster", serve.Cluster)
            .WithEnvironment("Node__Cluster", serve.Cluster)
            .WaitFor(redis);

    /// <summary>
    /// Applies the Serve config file once, when the first controller is healthy, the way KubeRay
    /// applies a RayService's serveConfigV2 through the dashboard API. Later restarts of a controller
    /// recover the config from Redis instead (so a config PUT since then is kept).
    /// </summary>
    public static void AddServeConfigDeployment(this IDistributedApplicationBuilder builder, ServeOptions serve, IEnumerable<IResourceBuilder<ProjectResource>> controllers,
        IResourceBuilder<ParameterResource>? token)
    {
        if (!serve.ApplyConfigOnStart) return;
        var file = DefaultServeConfig(builder, serve);
        var applied = 0;
        foreach (var controller in controllers)
            builder.Eventing.Subscribe<ResourceReadyEvent>(controller.Resource, async (e, ct) =>
            {
                if (Interlocked.Exchange(ref applied, 1) == 1) return;
                var logger = e.Services.GetRequiredService<ResourceLoggerService>().GetLogger(controller.Resource);
                using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
                if (token is not null)
                    http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", await token.Resource.GetValueAsync(ct));
                var url = serve.ControllerUrl + "/api/serve/applications/";
                for (var attempt = 1; attempt <= 30 && !ct.IsCancellationRequested; attempt++)
                {
                    try
                    {
                        var yaml = await File.ReadAllTextAsync(file, ct);
                        using var response = await http.PutAsync(url, new StringContent(yaml, Encoding.UTF8, "application/yaml"), ct);
                        var body = await response.Content.ReadAsStringAsync(ct);
                        if (response.IsSuccessStatusCode)
                        {
                            logger.LogInformation("Applied {ConfigFile}: {Response}", file, body);
                            return;
                        }
                        logger.LogWarning("Applying {ConfigFile} failed: {Status} {Response}", file, (int)response.StatusCode, body);
                        if ((int)response.StatusCode is >= 400 and < 500) return;
                    }
                    catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
                    {
                        logger.LogWarning("Applying {ConfigFile} (attempt {Attempt}) failed: {Error}", file, attempt, ex.Message);
                    }
                    // 503 while no controller leads yet (election): try again shortly.
                    await Task.Delay(TimeSpan.FromSeconds(1), ct);
                }
            });
    }

    /// <summary>The Serve config the AppHost applies (and the manifests carry): Serve:ConfigFile, else samples/serve.yaml.</summary>
    public static string DefaultServeConfig(IDistributedApplicationBuilder builder, ServeOptions serve) =>
        string.IsNullOrEmpty(serve.ConfigFile)
            ? Path.GetFullPath(Path.Combine(builder.AppHostDirectory, "..", "..", "samples", "serve.yaml"))
            : Path.GetFullPath(serve.ConfigFile, builder.AppHostDirectory);

    private static string ResolveStateDir(IDistributedApplicationBuilder builder, ServeOptions serve) =>
        Path.GetFullPath(string.IsNullOrEmpty(serve.StateDir)
            ? Path.Combine(builder.AppHostDirectory, "..", "..", ".state")
            : serve.StateDir, builder.AppHostDirectory);

    /// <summary>AUTH + PING over RESP: enough to know redis is up and the password is right.</summary>
    private static async Task<bool> PingAsync(int port, string password, CancellationToken ct)
    {
        try
        {
            using var client = new TcpClient();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(2));
            await client.ConnectAsync("127.0.0.1", port, timeout.Token);
            var stream = client.GetStream();
            var cmd = $"*2\r\n$4\r\nAUTH\r\n${Encoding.UTF8.GetByteCount(password)}\r\n{password}\r\n*1\r\n$4\r\nPING\r\n";
            await stream.WriteAsync(Encoding.UTF8.GetBytes(cmd), timeout.Token);
            var buffer = new byte[256];
            var text = "";
            while (!text.Contains("PONG") && !text.Contains("-ERR") && !text.Contains("-WRONGPASS"))
            {
                var n = await stream.ReadAsync(buffer, timeout.Token);
                if (n == 0) break;
                text += Encoding.UTF8.GetString(buffer, 0, n);
            }
            return text.Contains("+OK") && text.Contains("+PONG");
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }
}
