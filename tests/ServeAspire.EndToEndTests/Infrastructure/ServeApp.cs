using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace ServeAspire.EndToEndTests.Infrastructure;

/// <summary>
/// The whole AppHost started with Aspire.Hosting.Testing on test ports (redis 16379, controller
/// 18265, proxies 18000/18001) with its own state folder, so it never touches a dev cluster.
/// Disposing it stops every process it started (DCP ends the services; replicas die with their nodes).
/// </summary>
public sealed class ServeApp : IAsyncDisposable
{
    public const int RedisPort = 16379;
    public const int ControllerPort = 18265;
    public const int ProxyBasePort = 18000;

    private readonly DistributedApplication _app;
    private readonly string _stateDir;

    /// <summary>Carries the cluster token to the controllers' ports only: a proxy would forward it to user code.</summary>
    public HttpClient Http { get; }
    /// <summary>The cluster token the AppHost generated (in the state folder's auth_token, mode 600).</summary>
    public string Token { get; }
    public Uri Controller { get; } = new($"http://127.0.0.1:{ControllerPort}");
    public Uri Proxy(int i) => new($"http://127.0.0.1:{ProxyBasePort + i}");
    /// <summary>Controller instance i's own address (the shared API port reaches either).</summary>
    public Uri ControllerInstance(int i) => new($"http://127.0.0.1:{ControllerPort + 1 + i}");
    public DistributedApplication Aspire => _app;
    public string StateDir => _stateDir;

    /// <summary>Each controller instance's view of itself (null when it does not answer).</summary>
    public async Task<JsonNode?> ControllerStatusAsync(int i)
    {
        try { return JsonNode.Parse(await Http.GetStringAsync(new Uri(ControllerInstance(i), "/api/controller/status"))); }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException) { return null; }
    }

    /// <summary>Which controller instance leads now, with its PID (waits for one).</summary>
    public async Task<(int Index, int Pid)> LeaderAsync(TimeSpan timeout)
    {
        var found = await WaitUntilAsync(async () =>
        {
            for (var i = 0; i < 2; i++)
                if (await ControllerStatusAsync(i) is { } s && s["is_leader"]!.GetValue<bool>() && s["recovered"]!.GetValue<bool>())
                    return (i, s["pid"]!.GetValue<int>());
            return (-1, 0);
        }, r => r.Item1 >= 0, timeout, "a leading controller");
        return found;
    }

    /// <summary>Runs redis-cli against this app's redis (password from its config file).</summary>
    public async Task<string> RedisAsync(params string[] args)
    {
        var conf = await File.ReadAllTextAsync(Path.Combine(_stateDir, "redis.conf"));
        var password = conf.Split('\n').First(l => l.StartsWith("requirepass")).Split('"')[1];
        var psi = new ProcessStartInfo("redis-cli") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-p", RedisPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "--no-auth-warning", "-a", password }.Concat(args)) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var output = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        return output.TrimEnd();
    }
    public Stopwatch SinceStart { get; }

    private ServeApp(DistributedApplication app, string stateDir, Stopwatch sinceStart)
    {
        _app = app;
        _stateDir = stateDir;
        SinceStart = sinceStart;
        var tokenFile = Path.Combine(stateDir, "auth_token");
        Token = File.Exists(tokenFile) ? File.ReadAllText(tokenFile).Trim() : ""; // none with Serve:AuthMode=disabled
        Http = new HttpClient(new ControllerTokenHandler(Token) { InnerHandler = new SocketsHttpHandler() }) { Timeout = TimeSpan.FromSeconds(15) };
    }

    private sealed class ControllerTokenHandler(string token) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (token.Length > 0 && request.RequestUri is { Port: >= ControllerPort and <= ControllerPort + 2 } && request.Headers.Authorization is null)
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            return base.SendAsync(request, cancellationToken);
        }
    }

    public static Task<ServeApp> StartAsync(CancellationToken ct = default) => StartAsync([], ct);

    /// <param name="extraArgs">AppHost settings, e.g. <c>Serve:RestartDelaySeconds=20</c>.</param>
    public static Task<ServeApp> StartAsync(string[] extraArgs, CancellationToken ct = default) => StartAsync(extraArgs, null, null, ct);

    /// <param name="extraArgs">AppHost settings, e.g. <c>Serve:RestartDelaySeconds=20</c>.</param>
    /// <param name="controllerEnv">Extra environment of every controller instance, e.g. <c>Controller__ExpectedNodes</c>.</param>
    /// <param name="nodeEnv">Extra environment of every node agent, e.g. <c>Node__MaxReplicas</c>.</param>
    public static async Task<ServeApp> StartAsync(string[] extraArgs, IReadOnlyDictionary<string, string>? controllerEnv,
        IReadOnlyDictionary<string, string>? nodeEnv = null, CancellationToken ct = default)
    {
        var sinceStart = Stopwatch.StartNew();
        var stateDir = Directory.CreateTempSubdirectory("serveaspire-e2e-").FullName;
        string[] args =
        [
            $"Serve:RedisPort={RedisPort}", $"Serve:ControllerPort={ControllerPort}", $"Serve:ProxyBasePort={ProxyBasePort}",
            $"Serve:StateDir={stateDir}", "Serve:Cluster=e2e", .. extraArgs,
        ];
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(args, ct);
        builder.Services.AddLogging(l => l
            .SetMinimumLevel(LogLevel.Warning)
            .AddFilter("Aspire.", LogLevel.Warning)
            // The AppHost's resource health probes fail until each service listens: expected, not news.
            .AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks", LogLevel.None)
            .AddFilter(builder.Environment.ApplicationName, LogLevel.Warning));
        // Without a dashboard nothing listens on the OTLP port, and exporters stall the services' shutdown (ASPIRE-NOTES).
        foreach (var project in builder.Resources.OfType<ProjectResource>())
            project.Annotations.Add(new EnvironmentCallbackAnnotation(ctx => ctx.EnvironmentVariables.Remove("OTEL_EXPORTER_OTLP_ENDPOINT")));
        foreach (var (prefix, env) in new[] { ("controller-", controllerEnv), ("node-", nodeEnv) })
            if (env is not null)
                foreach (var project in builder.Resources.OfType<ProjectResource>().Where(p => p.Name.StartsWith(prefix, StringComparison.Ordinal)))
                    project.Annotations.Add(new EnvironmentCallbackAnnotation(ctx =>
                    {
                        foreach (var (key, value) in env) ctx.EnvironmentVariables[key] = value;
                    }));
        var app = await builder.BuildAsync(ct);
        try
        {
            await app.StartAsync(ct);
            // Healthy proxies have a routing table: from here on a client's request has somewhere to go.
            foreach (var resource in new[] { "controller-0", "controller-1", "proxy-0", "proxy-1" })
                await app.ResourceNotifications.WaitForResourceHealthyAsync(resource, ct);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
        return new ServeApp(app, stateDir, sinceStart);
    }

    public async Task<JsonNode> GetJsonAsync(string path, CancellationToken ct = default) =>
        JsonNode.Parse(await Http.GetStringAsync(new Uri(Controller, path), ct))!;

    /// <summary>The replicas of a deployment as the controller reports them.</summary>
    public async Task<IReadOnlyList<ReplicaView>> ReplicasAsync(string app = "sleepy", string deployment = "SleepyPid", CancellationToken ct = default)
    {
        var details = await GetJsonAsync("/api/serve/applications/", ct);
        var replicas = details["applications"]?[app]?["deployments"]?[deployment]?["replicas"]?.AsArray();
        return replicas?.Select(r => new ReplicaView(r!["replica_id"]!.GetValue<string>(), r["node_id"]!.GetValue<string>(),
            r["state"]!.GetValue<string>(), r["pid"]?.GetValue<int>())).ToList() ?? [];
    }

    /// <summary>A deployment's status and message, or null when it does not exist.</summary>
    public async Task<(string Status, string Message)?> DeploymentStatusAsync(string app, string deployment, CancellationToken ct = default)
    {
        var dep = (await GetJsonAsync("/api/serve/applications/", ct))["applications"]?[app]?["deployments"]?[deployment];
        return dep is null ? null : (dep["status"]!.GetValue<string>(), dep["message"]!.GetValue<string>());
    }

    /// <summary>Replicas per node, counting every node this app started (node-0..node-{nodes-1}), so an empty node shows as 0.</summary>
    public static IReadOnlyDictionary<string, int> PerNode(IEnumerable<ReplicaView> replicas, int nodes = 3)
    {
        var counts = Enumerable.Range(0, nodes).ToDictionary(i => $"node-{i}", _ => 0);
        foreach (var r in replicas) counts[r.NodeId] = counts.GetValueOrDefault(r.NodeId) + 1;
        return counts;
    }

    public async Task<JsonArray> ActorsAsync(string query = "", CancellationToken ct = default) =>
        (await GetJsonAsync("/api/actors" + query, ct))["actors"]!.AsArray();

    /// <summary>PUTs a config; returns the status and body.</summary>
    public async Task<(int Status, string Body)> PutConfigAsync(string config, CancellationToken ct = default)
    {
        using var response = await Http.PutAsync(new Uri(Controller, "/api/serve/applications/"), new StringContent(config), ct);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(ct));
    }

    /// <summary>GET / through a proxy; the PID in the body, or null when the answer was not a PID.</summary>
    public async Task<int?> PidThroughProxyAsync(int proxy, string path = "/", CancellationToken ct = default)
    {
        using var response = await Http.GetAsync(new Uri(Proxy(proxy), path), ct);
        if (!response.IsSuccessStatusCode) return null;
        return int.TryParse(await response.Content.ReadAsStringAsync(ct), out var pid) ? pid : null;
    }

    /// <summary>Polls a condition until it holds; fails with the last observed value after the deadline.</summary>
    public static async Task<T> WaitUntilAsync<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout, string what)
    {
        var deadline = Stopwatch.StartNew();
        T last = default!;
        Exception? lastError = null;
        while (deadline.Elapsed < timeout)
        {
            try
            {
                last = await probe();
                if (done(last)) return last;
                lastError = null;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException)
            {
                lastError = ex;
            }
            await Task.Delay(250);
        }
        throw new TimeoutException($"{what} did not happen within {timeout.TotalSeconds} s; last observed: {(lastError?.Message ?? JsonSerializer.Serialize(last))}");
    }

    /// <summary>The live child processes of <paramref name="parents"/> (the replica processes of those node agents), from /proc.</summary>
    public static IReadOnlyList<int> ChildrenOf(IReadOnlyCollection<int> parents)
    {
        var children = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces, so read after the last ')'.
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (fields[0] != "Z" && int.TryParse(fields[1], out var ppid) && parents.Contains(ppid)) children.Add(pid);
            }
            catch (IOException) { } // it exited while we looked
            catch (UnauthorizedAccessException) { }
        }
        return children;
    }

    public static bool ProcessExists(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        try { await _app.StopAsync(); } catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException) { }
        await _app.DisposeAsync();
        try { Directory.Delete(_stateDir, recursive: true); } catch (IOException) { }
    }
}

public sealed record ReplicaView(string ReplicaId, string NodeId, string State, int? Pid);
