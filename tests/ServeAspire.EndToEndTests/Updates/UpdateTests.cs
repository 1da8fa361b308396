using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using ServeAspire.EndToEndTests.Failures;
using ServeAspire.EndToEndTests.Infrastructure;
using Xunit.Abstractions;

namespace ServeAspire.EndToEndTests.Updates;

/// <summary>
/// Config updates against the real system, under open-loop load through both proxies: a user_config
/// change applied in place (same PIDs), a rolling update (every PID changes, never fewer routed
/// replicas than the target), and a new version that cannot start (the old one keeps serving).
/// </summary>
[Trait("Category", "Failover")]
public sealed class UpdateTests(ITestOutputHelper output)
{
    private const int Replicas = 4;
    private const int RequestsPerSecond = 50;

    private static string Config(string modelVersion, string userConfig = "{ message: one }") => $$"""
        http_options: { request_timeout_s: 30 }
        applications:
          - name: conf
            route_prefix: /conf
            import_path: Samples:Configurable
            runtime_env: { env_vars: { MODEL_VERSION: "{{modelVersion}}" } }
            deployments:
              - name: Configurable
                num_replicas: {{Replicas}}
                max_constructor_retry_count: 3
                user_config: {{userConfig}}
        """;

    private static async Task<(ServeApp App, HashSet<int> Pids)> StartAsync()
    {
        var app = await ServeApp.StartAsync();
        var (status, body) = await app.PutConfigAsync(Config("1"));
        Assert.True(status == 200, body);
        var running = await FailureScenario.RunningAsync(app, Replicas, "conf", "Configurable");
        await WaitHealthyAsync(app);
        return (app, running.Select(r => r.Pid!.Value).ToHashSet());
    }

    private static Task<JsonNode> WaitHealthyAsync(ServeApp app) =>
        ServeApp.WaitUntilAsync(() => DeploymentAsync(app), d => d["status"]!.GetValue<string>() == "HEALTHY", TimeSpan.FromSeconds(90), "Configurable HEALTHY");

    private static async Task<JsonNode> DeploymentAsync(ServeApp app) =>
        (await app.GetJsonAsync("/api/serve/applications/"))["applications"]!["conf"]!["deployments"]!["Configurable"]!;

    /// <summary>Open-loop load through both proxies (bounded: 150 s, 7,500 requests), once a second's worth has been answered.</summary>
    private static async Task<LoadGenerator> FlowingLoadAsync(ServeApp app)
    {
        var load = new LoadGenerator([new Uri(app.Proxy(0), "/conf?ms=50&pid"), new Uri(app.Proxy(1), "/conf?ms=50&pid")], RequestsPerSecond, TimeSpan.FromSeconds(150), 7_500);
        try
        {
            await ServeApp.WaitUntilAsync(() => Task.FromResult(load.Completed().Count(s => s.Ok)), n => n >= RequestsPerSecond, TimeSpan.FromSeconds(30), "load flowing");
            return load;
        }
        catch
        {
            await load.DisposeAsync();
            throw;
        }
    }

    /// <summary>What a replica answers through proxy <paramref name="proxy"/>: pid, message, reconfigures, model_version.</summary>
    private static async Task<JsonNode> AnswerAsync(ServeApp app, int proxy)
    {
        using var http = new HttpClient();
        return JsonNode.Parse(await http.GetStringAsync(new Uri(app.Proxy(proxy), "/conf")))!;
    }

    /// <summary>
    /// Samples, every 50 ms while the update runs, both proxies' routed replica count for the deployment
    /// (the fewest seen is the capacity the update kept) and the controller's live replicas (STARTING or
    /// RUNNING: the most seen shows new replicas started before old ones left, and the surge bound).
    /// </summary>
    private sealed class RoutedCountMonitor : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _run;
        private readonly ConcurrentBag<int> _seen = [];
        private readonly ConcurrentBag<int> _alive = [];

        public RoutedCountMonitor(ServeApp app, string application = "conf", string deployment = "Configurable")
        {
            _run = Task.Run(async () =>
            {
                using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
                while (!_stop.IsCancellationRequested)
                {
                    for (var i = 0; i < 2; i++)
                    {
                        try
                        {
                            var routing = JsonNode.Parse(await http.GetStringAsync(new Uri(app.Proxy(i), "/-/routing"), _stop.Token))!;
                            _seen.Add(routing["deployments"]![$"{application}/{deployment}"]!["replicas"]!.GetValue<int>());
                        }
                        catch (OperationCanceledException) { return; }
                    }
                    try { _alive.Add((await app.ReplicasAsync(application, deployment, ct: _stop.Token)).Count(r => r.State is "STARTING" or "RUNNING")); }
                    catch (OperationCanceledException) { return; }
                    try { await Task.Delay(50, _stop.Token); } catch (OperationCanceledException) { return; }
                }
            });
        }

        public int Observations => _seen.Count;
        public int Fewest => _seen.IsEmpty ? -1 : _seen.Min();
        public int MostAlive => _alive.IsEmpty ? -1 : _alive.Max();

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _run;
        }
    }

    [Fact]
    public async Task UserConfigChange_UnderLoad_IsAppliedInPlace_SamePids_NoRequestFails()
    {
        var (app, pids) = await StartAsync();
        await using var _ = app;
        Assert.Equal("one", (await AnswerAsync(app, 0))["message"]!.GetValue<string>()); // the initial user_config was applied before serving
        await using var load = await FlowingLoadAsync(app);

        load.MarkFault();
        var (status, body) = await app.PutConfigAsync(Config("1", "{ message: two }"));
        Assert.True(status == 200, body);
        var seconds = await FailureScenario.SecondsUntilAsync(load, async () =>
        {
            var d = await DeploymentAsync(app);
            var versions = d["replicas"]!.AsArray().Select(r => r!["user_config_version"]?.GetValue<string>()).Distinct().ToList();
            return d["status"]!.GetValue<string>() == "HEALTHY" && versions.Count == 1 && d["replicas"]!.AsArray().Count == Replicas;
        }, TimeSpan.FromSeconds(60), "every replica on the new user_config");
        // Every replica answers with the new message, reconfigured once more than at start; and none restarted.
        var answers = new List<JsonNode>();
        for (var i = 0; i < 20; i++) answers.Add(await AnswerAsync(app, i % 2));
        Assert.All(answers, a => Assert.Equal("two", a["message"]!.GetValue<string>()));
        Assert.All(answers, a => Assert.Equal(2, a["reconfigures"]!.GetValue<int>()));
        var after = (await app.ReplicasAsync("conf", "Configurable")).Select(r => r.Pid!.Value).ToHashSet();
        Assert.Equal(pids, after);
        var report = await load.StopAsync();

        output.WriteLine(report.Line("user_config change, in place (s = PUT to every replica reconfigured)", seconds));
        Assert.True(report.Sent >= 100, $"only {report.Sent} requests were sent");
        Assert.True(report.Failed == 0, $"{report.Failed} of {report.Sent} failed: {report.FailureSummary}");
    }

    [Fact]
    public async Task RollingUpdate_UnderLoad_EveryPidChanges_NeverFewerRoutedThanTheTarget_NoRequestFails()
    {
        var (app, pids) = await StartAsync();
        await using var _ = app;
        Assert.Equal("1", (await AnswerAsync(app, 1))["model_version"]!.GetValue<string>());
        await using var load = await FlowingLoadAsync(app);
        int fewest, mostAlive, observations;
        double seconds;
        await using (var monitor = new RoutedCountMonitor(app))
        {
            await ServeApp.WaitUntilAsync(() => Task.FromResult(monitor.Observations), n => n >= 4, TimeSpan.FromSeconds(10), "the routing monitor's first samples");
            load.MarkFault();
            var (status, body) = await app.PutConfigAsync(Config("2"));
            Assert.True(status == 200, body);
            seconds = await FailureScenario.SecondsUntilAsync(load, async () =>
            {
                var d = await DeploymentAsync(app);
                var replicas = await app.ReplicasAsync("conf", "Configurable");
                return d["status"]!.GetValue<string>() == "HEALTHY" && replicas.Count == Replicas && replicas.All(r => r.State == "RUNNING" && !pids.Contains(r.Pid!.Value));
            }, TimeSpan.FromSeconds(120), "every replica replaced by the new version");
            (fewest, mostAlive, observations) = (monitor.Fewest, monitor.MostAlive, monitor.Observations);
        }
        var report = await load.StopAsync();
        var answers = new List<string>();
        for (var i = 0; i < 10; i++) answers.Add((await AnswerAsync(app, i % 2))["model_version"]!.GetValue<string>());

        output.WriteLine(report.Line("rolling update of 4 replicas (s = PUT to all replaced)", seconds));
        output.WriteLine($"during the update: fewest replicas routed by a proxy {fewest}, most live replicas {mostAlive} ({observations} samples)");
        Assert.True(observations >= 20, $"only {observations} routing samples during the update");
        // Capacity: an old replica leaves the routes in the same table that brings its RUNNING replacement.
        Assert.True(fewest >= Replicas, $"a proxy routed to only {fewest} replicas during the rollout (target {Replicas})");
        // Order and bound: a new replica starts before an old one leaves, at most ceil(20 % of 4) = 1 above the target.
        Assert.True(mostAlive == Replicas + 1, $"at most {mostAlive} live replicas during the rollout: expected the target plus one new replica at a time ({Replicas + 1})");
        Assert.All(answers, v => Assert.Equal("2", v));
        Assert.True(report.Sent >= 100, $"only {report.Sent} requests were sent");
        Assert.True(report.Failed == 0, $"{report.Failed} of {report.Sent} failed: {report.FailureSummary}");
    }

    /// <summary>
    /// Issue 26, exactly as a new user met it: samples/serve.yaml (6 SleepyPid replicas, 10 s constructor) on the
    /// AppHost's 3 nodes, then the same config with an env var added. The spread share (2 per node) once counted
    /// the outdated replicas, so every node was "full" and the roll never started.
    /// </summary>
    [Fact]
    public async Task RollingUpdate_OfTheSample_SixReplicasOnThreeNodes_ReplacesEveryPid_NoRequestFails()
    {
        const int replicas = 6;
        await using var app = await ServeApp.StartAsync([ServeApp.SampleConfigArg]); // samples/serve.yaml exactly, 10 s constructor
        var sample = File.ReadAllText(Path.Combine(Foundation.SharedAppTests.RepoRoot(), "samples", "serve.yaml"));
        var before = await ServeApp.WaitUntilAsync(() => app.ReplicasAsync(), r => r.Count(x => x.State == "RUNNING") == replicas,
            TimeSpan.FromSeconds(90), "the sample's 6 replicas RUNNING");
        Assert.Equal(new Dictionary<string, int> { ["node-0"] = 2, ["node-1"] = 2, ["node-2"] = 2 }, ServeApp.PerNode(before));
        var pids = before.Select(r => r.Pid!.Value).ToHashSet();
        Assert.Equal(replicas, pids.Count);
        await using var load = new LoadGenerator([new Uri(app.Proxy(0), "/"), new Uri(app.Proxy(1), "/")], RequestsPerSecond, TimeSpan.FromSeconds(150), 7_500);
        await ServeApp.WaitUntilAsync(() => Task.FromResult(load.Completed().Count(x => x.Ok)), n => n >= RequestsPerSecond, TimeSpan.FromSeconds(30), "load flowing");
        int fewest, mostAlive, observations;
        double seconds;
        IReadOnlyList<ReplicaView> after = [];
        await using (var monitor = new RoutedCountMonitor(app, "sleepy", "SleepyPid"))
        {
            await ServeApp.WaitUntilAsync(() => Task.FromResult(monitor.Observations), n => n >= 4, TimeSpan.FromSeconds(10), "the routing monitor's first samples");
            load.MarkFault();
            var rolled = sample.Replace("    import_path: Samples:SleepyPid\n", "    import_path: Samples:SleepyPid\n    runtime_env: { env_vars: { ROLL: \"2\" } }\n", StringComparison.Ordinal);
            Assert.NotEqual(sample, rolled);
            var (status, body) = await app.PutConfigAsync(rolled);
            Assert.True(status == 200, body);
            seconds = await FailureScenario.SecondsUntilAsync(load, async () =>
            {
                after = await app.ReplicasAsync();
                return after.Count == replicas && after.All(r => r.State == "RUNNING" && !pids.Contains(r.Pid!.Value)) &&
                    (await app.DeploymentStatusAsync("sleepy", "SleepyPid"))?.Status == "HEALTHY";
            }, TimeSpan.FromSeconds(150), "all 6 PIDs replaced by the new version");
            (fewest, mostAlive, observations) = (monitor.Fewest, monitor.MostAlive, monitor.Observations);
        }
        var report = await load.StopAsync();

        output.WriteLine(report.Line("rolling update of the sample, 6 replicas on 3 nodes (s = PUT to all 6 PIDs replaced)", seconds));
        output.WriteLine($"during the update: fewest replicas routed by a proxy {fewest}, most live replicas {mostAlive} ({observations} samples); after: " +
            string.Join(", ", ServeApp.PerNode(after).Select(n => $"{n.Key}={n.Value}")));
        Assert.True(observations >= 20, $"only {observations} routing samples during the update");
        Assert.True(fewest >= replicas, $"a proxy routed to only {fewest} replicas during the rollout (target {replicas})");
        // The surge: new replicas start before old ones leave, ceil(20 % of 6) = 2 above the target at most.
        Assert.InRange(mostAlive, replicas + 1, replicas + 2);
        Assert.Equal(new Dictionary<string, int> { ["node-0"] = 2, ["node-1"] = 2, ["node-2"] = 2 }, ServeApp.PerNode(after));
        Assert.True(report.Sent >= 1_000, $"only {report.Sent} requests were sent");
        Assert.True(report.Failed == 0, $"{report.Failed} of {report.Sent} failed: {report.FailureSummary}");
    }

    [Fact]
    public async Task NewVersionThatCannotStart_StopsTheRollout_TheOldVersionKeepsServing_NoRequestFails()
    {
        var (app, pids) = await StartAsync();
        await using var _ = app;
        await using var load = await FlowingLoadAsync(app);

        load.MarkFault();
        var (status, body) = await app.PutConfigAsync(Config("broken"));
        Assert.True(status == 200, body);
        var failed = await ServeApp.WaitUntilAsync(() => DeploymentAsync(app), d => d["status"]!.GetValue<string>() == "DEPLOY_FAILED",
            TimeSpan.FromSeconds(120), "DEPLOY_FAILED after max_constructor_retry_count failures");
        var message = failed["message"]!.GetValue<string>();
        // It keeps serving on the old version for a while after giving up: no new start, no old replica stopped.
        await FailureScenario.HoldsForAsync(() => app.ReplicasAsync("conf", "Configurable"),
            r => r.Count == Replicas && r.All(x => x.State == "RUNNING" && pids.Contains(x.Pid!.Value)), TimeSpan.FromSeconds(3), "the old replicas serving, alone");
        var report = await load.StopAsync();
        var version = (await AnswerAsync(app, 0))["model_version"]!.GetValue<string>();
        var dead = (await app.ActorsAsync()).Where(a => a!["state"]!.GetValue<string>() == "DEAD" && a["class_name"]!.GetValue<string>() == "ServeReplica:Configurable").ToList();

        output.WriteLine(report.Line("new version whose constructor throws (old version keeps serving)", 0));
        output.WriteLine($"status: {message}; {dead.Count} failed starts");
        Assert.Contains("previous version keep serving", message);
        Assert.Contains("cannot be loaded", message);
        Assert.True(dead.Count >= 3, $"only {dead.Count} failed starts recorded (max_constructor_retry_count is 3)");
        Assert.Equal("1", version);
        Assert.True(report.Sent >= 100, $"only {report.Sent} requests were sent");
        Assert.True(report.Failed == 0, $"{report.Failed} of {report.Sent} failed: {report.FailureSummary}");
    }
}
