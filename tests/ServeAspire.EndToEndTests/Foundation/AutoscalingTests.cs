using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ServeAspire.EndToEndTests.Failures;
using ServeAspire.EndToEndTests.Infrastructure;
using Xunit.Abstractions;

namespace ServeAspire.EndToEndTests.Foundation;

/// <summary>Autoscaling with Ray's knobs against the real system: the proxies' reports drive the controller's target.</summary>
[Trait("Category", "Failover")]
public sealed class AutoscalingTests(ITestOutputHelper output)
{
    // Slow answers after ?ms= with no CPU work: 12 req/s of 400 ms keeps about 4.8 requests ongoing, so
    // with target_ongoing_requests 1 the policy wants ceil(4.8) = 5, clamped to max_replicas 3.
    private const string Config = """
        http_options: { request_timeout_s: 30 }
        applications:
          - name: auto
            route_prefix: /auto
            import_path: Samples:Slow
            deployments:
              - name: Slow
                max_ongoing_requests: 10
                autoscaling_config: { min_replicas: 1, max_replicas: 3, target_ongoing_requests: 1, upscale_delay_s: 1, downscale_delay_s: 3, look_back_period_s: 2 }
        """;

    /// <summary>A fresh app running only the autoscaled Slow deployment, at its min_replicas (1 RUNNING).</summary>
    private static async Task<ServeApp> StartAutoscaledAsync()
    {
        var app = await ServeApp.StartAsync();
        var (status, body) = await app.PutConfigAsync(Config);
        Assert.True(status == 200, body);
        await FailureScenario.RunningAsync(app, 1, "auto", "Slow");
        return app;
    }

    /// <summary>12 req/s of 400 ms through both proxies, open loop, bounded in time and count.</summary>
    private static LoadGenerator Load(ServeApp app) =>
        new([new Uri(app.Proxy(0), "/auto?ms=400"), new Uri(app.Proxy(1), "/auto?ms=400")], requestsPerSecond: 12,
            maxDuration: TimeSpan.FromSeconds(180), maxRequests: 3_000);

    private static async Task<JsonNode> AutoscalingAsync(ServeApp app, Uri? controller = null) =>
        (await app.GetJsonAsync(controller ?? app.Controller, "/api/serve/applications/"))["applications"]!["auto"]!["deployments"]!["Slow"]!;

    [Fact]
    public async Task UnderLoad_ScalesUpToMaxReplicas_AndBackDownWhenTheLoadStops_NoRequestFails()
    {
        await using var app = await StartAutoscaledAsync();
        // Precondition: idle, it stays at min_replicas, and the status shows the bounds.
        var idle = await AutoscalingAsync(app);
        Assert.True(idle["target_num_replicas"]!.GetValue<int>() == 1, idle.ToJsonString());
        Assert.True(idle["autoscaling"]?["max_replicas"]?.GetValue<int>() == 3, idle.ToJsonString());

        await using var load = Load(app);
        load.MarkFault(); // "fault" here: the start of the load the deployment has to grow for
        var upS = await FailureScenario.SecondsUntilAsync(load, async () => (await app.ReplicasAsync("auto", "Slow")).Count(r => r.State == "RUNNING") == 3,
            TimeSpan.FromSeconds(90), "3 RUNNING Slow replicas under load");
        var scaledUp = await AutoscalingAsync(app);
        output.WriteLine($"scaled up in {upS:F1} s: {scaledUp["autoscaling"]!.ToJsonString()}");
        Assert.Equal(3, scaledUp["target_num_replicas"]!.GetValue<int>());
        Assert.Contains("scale up from 1", scaledUp["autoscaling"]!["last_decision"]!.GetValue<string>());
        // It holds at max_replicas while the load lasts (the policy wants 5).
        await FailureScenario.HoldsForAsync(() => app.ReplicasAsync("auto", "Slow"), r => r.Count(x => x.State == "RUNNING") == 3 && r.Count <= 3,
            TimeSpan.FromSeconds(5), "3 replicas, no more, while the load lasts");
        var report = await load.StopAsync();

        output.WriteLine(report.Line("autoscale up under 12 req/s of 400 ms (s = load start to 3 RUNNING)", upS));
        // The load ran from before the scale-up to past the 5 s hold: at 12 req/s that is at least 60 requests.
        Assert.True(report.Sent >= 60, $"only {report.Sent} requests were sent");
        Assert.True(report.Failed == 0, $"{report.Failed} of {report.Sent} failed: {report.Slowest()}");

        // The load stopped: after downscale_delay_s it goes back to min_replicas.
        var down = await ServeApp.WaitUntilAsync(() => AutoscalingAsync(app), d => d["target_num_replicas"]!.GetValue<int>() == 1 && d["replicas"]!.AsArray().Count == 1,
            TimeSpan.FromSeconds(60), "back to 1 replica after the load");
        Assert.Contains("scale down from 3", down["autoscaling"]!["last_decision"]!.GetValue<string>());
        Assert.Equal("HEALTHY", down["status"]!.GetValue<string>());
    }

    /// <summary>
    /// Autoscaling across a leader kill: the standby resumes from the checkpointed target under the same
    /// load. It has no history at first and downscale_delay_s is only 3 s, so reading "no reports yet" as
    /// "no load" would scale the deployment down within the watched window.
    /// </summary>
    [Fact]
    public async Task AcrossALeaderKill_TheNewLeaderKeepsTheScaledUpTarget_NoRequestFails()
    {
        await using var app = await StartAutoscaledAsync();
        await using var load = Load(app);
        await ServeApp.WaitUntilAsync(() => app.ReplicasAsync("auto", "Slow"), r => r.Count(x => x.State == "RUNNING") == 3, TimeSpan.FromSeconds(90), "3 RUNNING under load");
        var before = (await app.ReplicasAsync("auto", "Slow")).Select(r => r.Pid).Order().ToList();

        var (leaderIndex, leaderPid) = await app.LeaderAsync(TimeSpan.FromSeconds(30));
        load.MarkFault();
        FailureScenario.Kill(leaderPid);
        var standby = app.ControllerInstance(1 - leaderIndex);
        await ServeApp.WaitUntilAsync(() => app.ControllerStatusAsync(1 - leaderIndex), s => s?["is_leader"]?.GetValue<bool>() == true && s["recovered"]?.GetValue<bool>() == true,
            TimeSpan.FromSeconds(20), "the standby to lead and recover");
        var resumed = await AutoscalingAsync(app, standby);
        output.WriteLine($"the new leader resumed with {resumed["autoscaling"]!.ToJsonString()}");
        Assert.Equal(3, resumed["target_num_replicas"]!.GetValue<int>());
        Assert.Contains("scale up from 1", resumed["autoscaling"]!["last_decision"]!.GetValue<string>()); // restored, not re-decided
        // Three times the downscale delay under the same load: the target and the replicas stay.
        await FailureScenario.HoldsForAsync(async () => (Deployment: await AutoscalingAsync(app, standby), Replicas: await app.ReplicasAsync("auto", "Slow", standby)),
            s => s.Deployment["target_num_replicas"]!.GetValue<int>() == 3 && s.Replicas.Count == 3 && s.Replicas.All(r => r.State == "RUNNING"),
            TimeSpan.FromSeconds(9), "target 3 and 3 RUNNING replicas on the new leader");
        load.MarkRecovered();
        var after = (await app.ReplicasAsync("auto", "Slow", standby)).Select(r => r.Pid).Order().ToList();
        var report = await load.StopAsync();
        output.WriteLine(report.Line("autoscaled deployment, leader kill -9 (s = kill to end of the 9 s watch)", (load.Elapsed - load.FaultAt).TotalSeconds));

        Assert.Equal(before, after); // adopted, not restarted
        Assert.True(report.Sent >= 100, $"only {report.Sent} requests were sent");
        Assert.True(report.Failed == 0, $"{report.Failed} of {report.Sent} failed: {report.Slowest()}");
    }

    // Scale to zero: no replica until requests come; they wait at the proxies (no request_timeout_s, so
    // Proxy:ColdStartTimeout bounds the wait) while the first replica starts. 10 req/s of 300 ms keeps about
    // 3 requests ongoing: with target_ongoing_requests 1 the policy wants 3, clamped to max_replicas 2.
    private const string ZeroConfig = """
        applications:
          - name: zero
            route_prefix: /zero
            import_path: Samples:Slow
            deployments:
              - name: Slow
                max_ongoing_requests: 10
                autoscaling_config: { min_replicas: 0, initial_replicas: 0, max_replicas: 2, target_ongoing_requests: 1, upscale_delay_s: 1, downscale_delay_s: 5, look_back_period_s: 2 }
        """;

    [Fact]
    public async Task MinReplicasZero_StartsWithNoReplica_ColdStartsUnderLoad_NoRequestFails_AndGoesBackToZero()
    {
        await using var app = await ServeApp.StartAsync();
        var (status, body) = await app.PutConfigAsync(ZeroConfig);
        Assert.True(status == 200, body);
        Assert.DoesNotContain("min_replicas", JsonNode.Parse(body)!["ignored"]!.ToJsonString()); // accepted, not raised to 1
        async Task<JsonNode> Deployment() => (await app.GetJsonAsync("/api/serve/applications/"))["applications"]!["zero"]!["deployments"]!["Slow"]!;

        // Preconditions: HEALTHY at 0/0, no replica anywhere, and both proxies route /zero with no replica, knowing it scales from zero.
        var idle = await ServeApp.WaitUntilAsync(Deployment, d => d["status"]!.GetValue<string>() == "HEALTHY", TimeSpan.FromSeconds(30), "zero/Slow HEALTHY");
        Assert.True(idle["target_num_replicas"]!.GetValue<int>() == 0 && idle["replicas"]!.AsArray().Count == 0, idle.ToJsonString());
        Assert.Null(idle["autoscaling"]!["last_decision"]);
        foreach (var i in new[] { 0, 1 })
        {
            var entry = await ServeApp.WaitUntilAsync(async () => (await app.Http.GetFromJsonAsync<JsonNode>(new Uri(app.Proxy(i), "/-/routing")))!["deployments"]!["zero/Slow"],
                e => e is not null, TimeSpan.FromSeconds(30), $"proxy-{i} routing zero/Slow");
            Assert.True(entry!["replicas"]!.GetValue<int>() == 0 && entry["scales_from_zero"]!.GetValue<bool>(), $"proxy-{i}: {entry.ToJsonString()}");
        }
        Assert.Empty(await app.ReplicasAsync("zero", "Slow"));

        // Every decision the controller shows while the load runs, in order (polled; the first one must be the scale-up
        // from 0). Only the watcher writes the list, and it is read once the watcher has ended.
        var decisions = new List<string>();
        using var watching = new CancellationTokenSource();
        var watcher = Task.Run(async () =>
        {
            while (!watching.IsCancellationRequested)
            {
                try
                {
                    if ((await Deployment())["autoscaling"]!["last_decision"]?.GetValue<string>() is { } d && (decisions.Count == 0 || decisions[^1] != d))
                        decisions.Add(d);
                }
                catch (HttpRequestException) { }
                try { await Task.Delay(100, watching.Token); } catch (OperationCanceledException) { }
            }
        });

        await using var load = new LoadGenerator([new Uri(app.Proxy(0), "/zero?ms=300"), new Uri(app.Proxy(1), "/zero?ms=300")], requestsPerSecond: 10,
            maxDuration: TimeSpan.FromSeconds(120), maxRequests: 1_000, clientTimeout: TimeSpan.FromSeconds(60));
        load.MarkFault(); // the load's start: everything from here is measured
        // A bounded load: 200 answers (20 s at 10 req/s) covers the cold start and a stretch at full strength.
        await ServeApp.WaitUntilAsync(() => Task.FromResult(load.Count), n => n >= 200, TimeSpan.FromSeconds(100), "200 answered requests");
        var scaled = await Deployment();
        var report = await load.StopAsync();
        await watching.CancelAsync();
        await watcher;
        var stoppedAt = System.Diagnostics.Stopwatch.StartNew();

        var first = report.Samples.Where(s => s.Ok).MinBy(s => s.EndedAt);
        var coldStartS = first is null ? double.NaN : (first.EndedAt - report.Samples[0].StartedAt).TotalSeconds;
        output.WriteLine($"decisions: {string.Join(" | ", decisions)}");
        output.WriteLine($"cold start (first request sent → first answer): {coldStartS:F1} s; under load: {scaled["autoscaling"]!.ToJsonString()}");
        output.WriteLine(report.Line("scale from zero under 10 req/s of 300 ms (s = cold start)", coldStartS));
        Assert.True(report.Sent >= 200, $"only {report.Sent} requests were sent");
        Assert.True(report.Failed == 0, $"{report.Failed} of {report.Sent} failed: {report.FailureSummary}; slowest: {report.Slowest()}");
        Assert.True(decisions.Count > 0 && decisions[0].Contains("scale up from 0", StringComparison.Ordinal), $"decisions seen: {string.Join(" | ", decisions)}");
        Assert.InRange(scaled["target_num_replicas"]!.GetValue<int>(), 1, 2);
        // The requests that arrived before any replica existed waited for it rather than failing: the first ones sent were answered.
        Assert.True(report.Samples.Take(5).All(s => s.Ok), $"the first requests: {string.Join("; ", report.Samples.Take(5).Select(s => $"{s.Status} {s.Error} after {s.Ms:F0} ms"))}");

        // The load stopped: after downscale_delay_s back to 0 replicas, HEALTHY, and no replica in either proxy's routes.
        var down = await ServeApp.WaitUntilAsync(Deployment, d => d["target_num_replicas"]!.GetValue<int>() == 0 && d["replicas"]!.AsArray().Count == 0 && d["status"]!.GetValue<string>() == "HEALTHY",
            TimeSpan.FromSeconds(60), "back to 0 replicas after the load");
        var downS = stoppedAt.Elapsed.TotalSeconds;
        output.WriteLine($"back to 0 replicas {downS:F1} s after the load stopped: {down["autoscaling"]!.ToJsonString()}");
        var lastDecision = down["autoscaling"]!["last_decision"]!.GetValue<string>();
        Assert.Contains("scale down from", lastDecision);
        Assert.Contains(": 0 replicas wanted", lastDecision);
        foreach (var i in new[] { 0, 1 })
            await ServeApp.WaitUntilAsync(async () => (await app.Http.GetFromJsonAsync<JsonNode>(new Uri(app.Proxy(i), "/-/routing")))!["deployments"]!["zero/Slow"]!["replicas"]!.GetValue<int>(),
                n => n == 0, TimeSpan.FromSeconds(10), $"proxy-{i} routing zero/Slow with no replica");
    }
}
