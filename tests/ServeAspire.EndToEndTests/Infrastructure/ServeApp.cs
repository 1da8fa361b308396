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
    /// <summary>
    /// Added to every test port (SERVE_TEST_PORT_OFFSET, default 0), so two checkouts can run their
    /// end-to-end tests on one machine at once without taking each other's ports.
    /// </summary>
    public static int PortOffset { get; } = int.TryParse(Environment.GetEnvironmentVariable("SERVE_TEST_PORT_OFFSET"), out var o) && o is >= 0 and <= 10_000 ? o : 0;
    public static int RedisPort { get; } = 16379 + PortOffset;
    public static int ControllerPort { get; } = 18265 + PortOffset;
    public static int ProxyBasePort { get; } = 18000 + PortOffset;

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

    /// <summary>With Serve:Store=sentinel, Sentinel i listens here + i (the AppHost's default, RedisPort + 20000).</summary>
    public static int SentinelPort { get; } = RedisPort + 20000;

    /// <summary>Runs redis-cli against this app's store: its redis, or with Serve:Store=sentinel the primary the Sentinels name now.</summary>
    public async Task<string> RedisAsync(params string[] args) =>
        await RedisAtAsync(File.Exists(Path.Combine(_stateDir, "redis.conf")) ? RedisPort : await PrimaryPortAsync(), args);

    /// <summary>Runs redis-cli against the store process on <paramref name="port"/> (a data node or a Sentinel), with TLS when the store has it.</summary>
    public async Task<string> RedisAtAsync(int port, params string[] args)
    {
        var single = Path.Combine(_stateDir, "redis.conf");
        var conf = await File.ReadAllTextAsync(File.Exists(single) ? single : Path.Combine(_stateDir, "redis-0", "redis.conf"));
        var password = conf.Split('\n').First(l => l.StartsWith("requirepass")).Split('"')[1];
        var psi = new ProcessStartInfo("redis-cli") { RedirectStandardOutput = true, RedirectStandardError = true };
        var common = new List<string> { "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--no-auth-warning", "-a", password };
        if (conf.Contains("tls-port", StringComparison.Ordinal)) common.AddRange(["--tls", "--cacert", Path.Combine(_stateDir, "tls", "ca.crt")]);
        foreach (var a in common.Concat(args)) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var output = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        return output.TrimEnd();
    }

    /// <summary>The port of the primary as the first answering Sentinel names it (Serve:Store=sentinel); 0 when none answers.</summary>
    public async Task<int> PrimaryPortAsync()
    {
        for (var i = 0; i < 3; i++)
        {
            var reply = (await RedisAtAsync(SentinelPort + i, "SENTINEL", "get-master-addr-by-name", "serve")).Split('\n');
            if (reply.Length == 2 && int.TryParse(reply[1], out var port)) return port;
        }
        return 0;
    }

    /// <summary>A store process's PID (from INFO server); 0 when it does not answer.</summary>
    public async Task<int> StorePidAsync(int port) =>
        (await RedisAtAsync(port, "INFO", "server")).Split('\n').FirstOrDefault(l => l.StartsWith("process_id:")) is { } line
            ? int.Parse(line["process_id:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture) : 0;

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
            if (token.Length > 0 && request.RequestUri is { } uri && uri.Port >= ControllerPort && uri.Port <= ControllerPort + 2 && request.Headers.Authorization is null)
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            return base.SendAsync(request, cancellationToken);
        }
    }

    /// <summary>The routing-table version proxy <paramref name="i"/> serves with (-1 when it does not answer).</summary>
    public async Task<long> ProxyRoutingVersionAsync(int i)
    {
        try
        {
            using var response = await Http.GetAsync(new Uri(Proxy(i), "/-/routes"));
            return response.Headers.TryGetValues("X-Serve-Routing-Version", out var v) ? long.Parse(v.First(), System.Globalization.CultureInfo.InvariantCulture) : -1;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException) { return -1; }
    }

    /// <summary>Every port this app listens on: an app may start only when all are free.</summary>
    public static IReadOnlyList<int> Ports { get; } = [RedisPort, RedisPort + 1, RedisPort + 2, SentinelPort, SentinelPort + 1, SentinelPort + 2,
        ControllerPort, ControllerPort + 1, ControllerPort + 2, ProxyBasePort, ProxyBasePort + 1];

    /// <summary>
    /// Waits (bounded) until none of <see cref="Ports"/> is taken, failing with what holds them: a previous
    /// app's process still listening would otherwise answer this test's requests.
    /// </summary>
    public static async Task EnsurePortsFreeAsync(TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var taken = Ports.Where(port =>
            {
                try
                {
                    var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port);
                    listener.Start();
                    listener.Stop();
                    return false;
                }
                catch (System.Net.Sockets.SocketException) { return true; }
            }).ToList();
            if (taken.Count == 0) return;
            if (clock.Elapsed > timeout)
                throw new InvalidOperationException($"ports {string.Join(", ", taken)} are still in use {timeout.TotalSeconds} s later (a previous app's process?): {Listeners(taken)}");
            await Task.Delay(250);
        }
    }

    private static string Listeners(IEnumerable<int> ports)
    {
        try
        {
            var psi = new ProcessStartInfo("ss", ["-ltnpH"]) { RedirectStandardOutput = true };
            using var p = Process.Start(psi)!;
            var lines = p.StandardOutput.ReadToEnd().Split('\n');
            p.WaitForExit();
            return string.Join(" | ", lines.Where(l => ports.Any(port => l.Contains($":{port} ", StringComparison.Ordinal))));
        }
        catch (System.ComponentModel.Win32Exception) { return "(ss not available)"; }
    }

    /// <summary>Every live descendant of this test process (DCP, the services, the replicas), from /proc.</summary>
    public static IReadOnlyList<int> Descendants()
    {
        var parentOf = new Dictionary<int, int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            if (ReadStat(dir) is { } stat && stat.State != "Z") parentOf[pid] = stat.Ppid;
        }
        var result = new List<int>();
        var frontier = new Queue<int>([Environment.ProcessId]);
        while (frontier.TryDequeue(out var parent))
            foreach (var (pid, ppid) in parentOf)
                if (ppid == parent) { result.Add(pid); frontier.Enqueue(pid); }
        return result;
    }

    /// <summary>/proc/PID/stat's state and parent ("pid (comm) state ppid ..."; comm may hold spaces, so read after the last ')').</summary>
    private static (string State, int Ppid)? ReadStat(string procDir)
    {
        try
        {
            var stat = File.ReadAllText(Path.Combine(procDir, "stat"));
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return int.TryParse(fields[1], out var ppid) ? (fields[0], ppid) : null;
        }
        catch (IOException) { return null; } // it exited while we looked
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>Starts the app from samples/serve.yaml exactly as ./run.sh does (SleepyPid's 10 s constructor).</summary>
    public static string SampleConfigArg => $"Serve:ConfigFile={Path.Combine(Foundation.SharedAppTests.RepoRoot(), "samples", "serve.yaml")}";

    /// <summary>samples/serve.yaml with SleepyPid's constructor at 2 s (SLEEPY_PID_INIT_S): the default start config of a test app.</summary>
    public static string QuickSample()
    {
        const string importPath = "    import_path: Samples:SleepyPid\n";
        var sample = File.ReadAllText(Path.Combine(Foundation.SharedAppTests.RepoRoot(), "samples", "serve.yaml")).ReplaceLineEndings("\n");
        if (!sample.Contains(importPath, StringComparison.Ordinal)) throw new InvalidOperationException("samples/serve.yaml no longer has SleepyPid's import_path line");
        return sample.Replace(importPath, importPath + "    " + QuickSleepyEnv + "\n", StringComparison.Ordinal);
    }

    /// <summary>
    /// The runtime_env of the sleepy app a test app starts with: a config a test PUTs for that app carries it too,
    /// or the env var's change is a new code version, and the PUT rolls every replica instead of what it tests.
    /// </summary>
    public const string QuickSleepyEnv = "runtime_env: { env_vars: { SLEEPY_PID_INIT_S: \"2\" } }";

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
        await EnsurePortsFreeAsync(TimeSpan.FromSeconds(30));
        // A test that restarts on the same state (Serve:StateDir=…) owns that folder; otherwise each app gets a fresh one.
        var keptState = extraArgs.FirstOrDefault(a => a.StartsWith("Serve:StateDir=", StringComparison.Ordinal))?["Serve:StateDir=".Length..];
        var stateDir = keptState ?? Directory.CreateTempSubdirectory("serveaspire-e2e-").FullName;
        string[] args =
        [
            $"Serve:RedisPort={RedisPort}", $"Serve:ControllerPort={ControllerPort}", $"Serve:ProxyBasePort={ProxyBasePort}",
            .. keptState is null ? [$"Serve:StateDir={stateDir}"] : Array.Empty<string>(), "Serve:Cluster=e2e", .. extraArgs,
        ];
        // SleepyPid's 10 s constructor was waited for by every test that starts from the sample, at start and after
        // each fault: those tests start from the sample with SLEEPY_PID_INIT_S=2 instead, unless they name a config
        // (SampleConfigArg: the sample itself) or apply none. Configs a test PUTs itself are its own.
        if (!args.Any(a => a.StartsWith("Serve:ConfigFile=", StringComparison.Ordinal) || a.StartsWith("Serve:ApplyConfigOnStart=", StringComparison.Ordinal)))
        {
            var quick = Path.Combine(stateDir, "serve.yaml");
            await File.WriteAllTextAsync(quick, QuickSample(), ct);
            args = [.. args, $"Serve:ConfigFile={quick}"];
        }
        // bench/failover.sh runs the failure scenarios on the native-code proxy that ./run.sh runs (issue 10).
        if (Environment.GetEnvironmentVariable("SERVE_PROXY_EXECUTABLE") is { Length: > 0 } proxyExecutable && !args.Any(a => a.StartsWith("Serve:ProxyExecutable=", StringComparison.Ordinal)))
            args = [.. args, $"Serve:ProxyExecutable={proxyExecutable}"];
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(args, ct);
        builder.Services.AddLogging(l => l
            .SetMinimumLevel(LogLevel.Warning)
            .AddFilter("Aspire.", LogLevel.Warning)
            // The AppHost's resource health probes fail until each service listens: expected, not news.
            .AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks", LogLevel.None)
            .AddFilter(builder.Environment.ApplicationName, LogLevel.Warning));
        // Without a dashboard nothing listens on the OTLP port, and exporters stall the services' shutdown (ASPIRE-NOTES).
        foreach (var service in builder.Resources.Where(r => r is ProjectResource or ExecutableResource))
            service.Annotations.Add(new EnvironmentCallbackAnnotation(ctx => ctx.EnvironmentVariables.Remove("OTEL_EXPORTER_OTLP_ENDPOINT")));
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
            // Bounded: an app that never gets healthy fails the test (and is disposed below) instead of hanging it.
            using var startup = CancellationTokenSource.CreateLinkedTokenSource(ct);
            startup.CancelAfter(TimeSpan.FromMinutes(3));
            await app.StartAsync(startup.Token);
            // Healthy proxies have a routing table: from here on a client's request has somewhere to go.
            foreach (var resource in new[] { "controller-0", "controller-1", "proxy-0", "proxy-1" })
                await app.ResourceNotifications.WaitForResourceHealthyAsync(resource, startup.Token);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
        Timing($"start {sinceStart.Elapsed.TotalSeconds:F1} s");
        return new ServeApp(app, stateDir, sinceStart) { _ownsStateDir = keptState is null };
    }

    private bool _ownsStateDir = true;

    /// <summary>With SERVE_E2E_TIMINGS=FILE, each app's start and stop times are appended there (where the suite's minutes go).</summary>
    private static void Timing(string line)
    {
        if (Environment.GetEnvironmentVariable("SERVE_E2E_TIMINGS") is { Length: > 0 } file)
            File.AppendAllText(file, $"{DateTime.UtcNow:HH:mm:ss} {line}\n");
    }

    public async Task<JsonNode> GetJsonAsync(string path, CancellationToken ct = default) => await GetJsonAsync(Controller, path, ct);

    /// <summary>A GET to one controller address (e.g. <see cref="ControllerInstance"/>: the shared port may hand the connection to a paused instance).</summary>
    public async Task<JsonNode> GetJsonAsync(Uri controller, string path, CancellationToken ct = default) =>
        JsonNode.Parse(await Http.GetStringAsync(new Uri(controller, path), ct))!;

    /// <summary>The replicas of a deployment as the controller (at <paramref name="controller"/>, default the shared port) reports them.</summary>
    public async Task<IReadOnlyList<ReplicaView>> ReplicasAsync(string app = "sleepy", string deployment = "SleepyPid", Uri? controller = null, CancellationToken ct = default)
    {
        var details = await GetJsonAsync(controller ?? Controller, "/api/serve/applications/", ct);
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
            if (int.TryParse(Path.GetFileName(dir), out var pid) && ReadStat(dir) is { State: not "Z" } stat && parents.Contains(stat.Ppid))
                children.Add(pid);
        return children;
    }

    /// <summary>True while <paramref name="pid"/> runs (a zombie, dead but not yet reaped, does not count).</summary>
    public static bool ProcessExists(int pid) => ReadStat($"/proc/{pid}") is { State: not "Z" and not "X" };

    /// <summary>
    /// Stops the app, then checks that every process it had started (taken from this process's descendants
    /// before stopping, so replicas are included even if their node was killed) is gone; a survivor is
    /// killed by PID and fails the test, since it would hold ports and answer the next app's requests.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        var stopping = Stopwatch.StartNew();
        IReadOnlyList<int> started = Descendants();
        var (servicesStopped, services) = await StopServicesAsync();
        started = [.. started, .. services]; // checked below like the descendants: none may outlive the app
        try { await _app.StopAsync(); } catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException) { }
        var stopped = stopping.Elapsed;
        await _app.DisposeAsync();
        var disposed = stopping.Elapsed;
        if (_ownsStateDir)
            try { Directory.Delete(_stateDir, recursive: true); } catch (IOException) { }
        var clock = Stopwatch.StartNew();
        List<int> alive;
        while ((alive = started.Where(ProcessExists).ToList()).Count > 0 && clock.Elapsed < TimeSpan.FromSeconds(30))
            await Task.Delay(200);
        Timing($"stop {stopping.Elapsed.TotalSeconds:F1} s (services {servicesStopped.TotalSeconds:F1}, StopAsync {(stopped - servicesStopped).TotalSeconds:F1}, DisposeAsync {(disposed - stopped).TotalSeconds:F1}; app {SinceStart.Elapsed.TotalSeconds:F0} s)");
        if (alive.Count == 0) return;
        var names = alive.Select(pid => $"{pid} {Describe(pid)}").ToList();
        foreach (var pid in alive)
            try { using var p = Process.GetProcessById(pid); p.Kill(); } catch (Exception ex) when (ex is ArgumentException or InvalidOperationException) { }
        throw new InvalidOperationException($"{alive.Count} process(es) of the app outlived it by 30 s (killed now): {string.Join("; ", names)}");
    }

    /// <summary>
    /// SIGTERMs the services themselves (controllers, proxies, node agents, by the PIDs they report) while the store is
    /// still up, and waits (bounded) for them to exit; then DCP's stop finds little left to do. Left to DCP, a stop took
    /// 13 s: it signals the `dotnet run` wrappers, not the services, and stops redis with them, so the services'
    /// own shutdown waited on both (measured: 13.4 s, against 3.6 s this way). Each service's graceful SIGTERM path
    /// (proxy drain, replicas stopped by their node) runs at every test's end. Returns how long it took.
    /// </summary>
    private async Task<(TimeSpan Took, IReadOnlyList<int> Pids)> StopServicesAsync()
    {
        var clock = Stopwatch.StartNew();
        var pids = new HashSet<int>();
        using var http = new HttpClient(new ControllerTokenHandler(Token) { InnerHandler = new SocketsHttpHandler() }) { Timeout = TimeSpan.FromSeconds(3) };
        async Task Collect(Uri controller, string path, string array, Func<JsonNode, bool> take)
        {
            try
            {
                foreach (var item in JsonNode.Parse(await http.GetStringAsync(new Uri(controller, path)))![array]!.AsArray())
                    if (item is not null && take(item) && item["pid"]?.GetValue<int>() is { } pid) pids.Add(pid);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException or InvalidOperationException or NullReferenceException) { }
        }
        for (var i = 0; i < 2; i++)
            try
            {
                if (JsonNode.Parse(await http.GetStringAsync(new Uri(ControllerInstance(i), "/api/controller/status")))?["pid"]?.GetValue<int>() is { } pid) pids.Add(pid);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException or InvalidOperationException) { }
        await Collect(Controller, "/api/nodes", "nodes", _ => true);
        await Collect(Controller, "/api/actors", "actors", a => a["class_name"]?.GetValue<string>() == "ProxyActor" && a["state"]?.GetValue<string>() == "ALIVE");
        // Only processes of ours (a PID read from an answer could have been reused meanwhile).
        var ours = pids.Where(p => p != Environment.ProcessId && Describe(p).Contains("/ServeAspire.", StringComparison.Ordinal)).ToList();
        foreach (var pid in ours)
        {
            _ = Kill(pid, 15); // SIGTERM
            _ = Kill(pid, 18); // SIGCONT: a test may have left it stopped
        }
        while (ours.Any(ProcessExists) && clock.Elapsed < TimeSpan.FromSeconds(25)) await Task.Delay(100);
        return (clock.Elapsed, ours);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    private static string Describe(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim(); }
        catch (IOException) { return "(gone)"; }
    }
}

public sealed record ReplicaView(string ReplicaId, string NodeId, string State, int? Pid);
