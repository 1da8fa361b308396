using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ServeAspire.EndToEndTests.Infrastructure;
using Xunit.Abstractions;
using static ServeAspire.EndToEndTests.Failures.FailureScenario;

namespace ServeAspire.EndToEndTests.Failures;

/// <summary>The replica and node rows of the failure matrix, each under steady load, each on its own app.</summary>
[Trait("Category", "Failover")]
public sealed class ReplicaFailureTests(ITestOutputHelper output)
{
    [Fact]
    public async Task ReplicaKilled_NoRequestFails_OutOfTheRoutesWithin3s_ReplacementRuns()
    {
        await using var app = await ServeApp.StartAsync();
        var before = await RunningAsync(app, 6);
        await using var load = Load(app);
        await load.WarmUpAsync();
        var victim = before[0];
        await AssertFlowingAsync(load);
        Assert.Contains(load.Completed(), s => s.Pid == victim.Pid); // the victim serves: its loss is felt

        load.MarkFault();
        Kill(victim.Pid!.Value);
        var outAt = await OutOfBothProxiesAsync(app, load, victim.ReplicaId, TimeSpan.FromSeconds(30));
        var seconds = await SecondsUntilAsync(load, async () =>
        {
            var r = await app.ReplicasAsync();
            return r.Count(x => x.State == "RUNNING") == 6 && r.All(x => x.Pid != victim.Pid);
        }, TimeSpan.FromSeconds(60), "a RUNNING replacement");
        await load.WarmUpAsync(load.Count + 100); // keep the load on after recovery
        var report = await load.StopAsync();
        var outSeconds = (outAt - report.FaultAt!.Value).TotalSeconds;
        output.WriteLine(report.Line("replica kill -9", seconds));
        output.WriteLine($"out of both proxies' routes {outSeconds:F1} s after the kill; slowest: {report.Slowest()}");

        AssertHeld(report, Bounds.Replayed);
        // Detection is the product's part (the node reports the exit at once); the replacement's time is
        // mostly a .NET cold start plus SleepyPid's 10 s constructor, so it is reported, not asserted.
        Assert.True(outSeconds <= 3, $"the dead replica left the routes {outSeconds:F1} s after the kill (bound 3 s: the node reports exits at once)");
        Assert.Single(await app.ActorsAsync($"?state=DEAD&pid={victim.Pid}"));
    }

    [Fact]
    public async Task UnhealthyReplica_IsMarkedUnhealthyAfter3FailedChecks_NoRequestReachesItAfterwards_Replaced_NoRequestFails()
    {
        await using var app = await ServeApp.StartAsync();
        Assert.Equal(200, (await app.PutConfigAsync(Config(FlakyApp(timeoutS: 1)))).Status);
        var before = await RunningAsync(app, 2, "flaky", "Flaky");
        await using var load = Load(app, "/flaky");
        await load.WarmUpAsync();
        await AssertFlowingAsync(load);

        // The flipped replica fails its checks and answers its callers 1 s late (Flaky.UnhealthyDelayMs):
        // were it left in the routes, the load would see it.
        load.MarkFault();
        using var toggle = await app.Http.PostAsync(new Uri(app.Proxy(0), "/flaky/toggle"), null);
        var flipped = JsonNode.Parse(await toggle.Content.ReadAsStringAsync())!["pid"]!.GetValue<int>();
        var victim = Assert.Single(before, r => r.Pid == flipped);
        var sawUnhealthy = false;
        var outTask = OutOfBothProxiesAsync(app, load, victim.ReplicaId, TimeSpan.FromSeconds(60));
        var seconds = await SecondsUntilAsync(load, async () =>
        {
            sawUnhealthy |= (await app.DeploymentStatusAsync("flaky", "Flaky"))?.Status == "UNHEALTHY";
            var r = await app.ReplicasAsync("flaky", "Flaky");
            return r.Count(x => x.State == "RUNNING") == 2 && r.All(x => x.Pid != flipped);
        }, TimeSpan.FromSeconds(60), "the unhealthy replica replaced");
        var outAt = await outTask;
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        output.WriteLine(report.Line("replica unhealthy", seconds));
        output.WriteLine($"out of both proxies' routes {(outAt - report.FaultAt!.Value).TotalSeconds:F1} s after the toggle; slowest: {report.Slowest()}");

        AssertHeld(report, SlowUntilDetected);
        Assert.True(sawUnhealthy, "the deployment never showed UNHEALTHY");
        Assert.Contains(report.Samples, s => s.Pid == flipped && s.StartedAt < report.FaultAt!.Value); // it served before
        var late = report.Samples.Where(s => s.Pid == flipped && s.StartedAt > outAt).ToList();
        Assert.True(late.Count == 0, $"{late.Count} requests started after both proxies dropped it reached the unhealthy replica");
        var dead = Assert.Single(await app.ActorsAsync($"?state=DEAD&pid={flipped}"));
        Assert.Contains("health check failed 3 times in a row", dead!["death_cause"]!.GetValue<string>());
        Assert.Contains("toggled unhealthy", dead["death_cause"]!.GetValue<string>());
    }

    /// <summary>
    /// The unhealthy/hanging replica answers 1 s late until the checks catch it (3 checks at 1 s): the
    /// proxies' least-loaded choice sends it few requests, but some take 1 s.
    /// </summary>
    private static readonly Bounds SlowUntilDetected = new(1_500, 2_500, "the sick replica answers 1 s late until it is detected");

    [Fact]
    public async Task HangingHealthCheck_TimesOut_AndTheReplicaIsReplaced_NoRequestFails()
    {
        await using var app = await ServeApp.StartAsync();
        Assert.Equal(200, (await app.PutConfigAsync(Config(FlakyApp(timeoutS: 1)))).Status);
        var before = await RunningAsync(app, 2, "flaky", "Flaky");
        await using var load = Load(app, "/flaky");
        await load.WarmUpAsync();
        await AssertFlowingAsync(load);

        load.MarkFault();
        using var hang = await app.Http.PostAsync(new Uri(app.Proxy(1), "/flaky/hang"), null);
        var hung = JsonNode.Parse(await hang.Content.ReadAsStringAsync())!["pid"]!.GetValue<int>();
        var victim = Assert.Single(before, r => r.Pid == hung);
        var outTask = OutOfBothProxiesAsync(app, load, victim.ReplicaId, TimeSpan.FromSeconds(60));
        var seconds = await SecondsUntilAsync(load, async () =>
        {
            var r = await app.ReplicasAsync("flaky", "Flaky");
            return r.Count(x => x.State == "RUNNING") == 2 && r.All(x => x.Pid != hung);
        }, TimeSpan.FromSeconds(60), "the hanging replica replaced");
        var outAt = await outTask;
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        output.WriteLine(report.Line("health check hangs", seconds));
        output.WriteLine($"out of both proxies' routes {(outAt - report.FaultAt!.Value).TotalSeconds:F1} s after the hang; slowest: {report.Slowest()}");

        AssertHeld(report, SlowUntilDetected);
        var late = report.Samples.Where(s => s.Pid == hung && s.StartedAt > outAt).ToList();
        Assert.True(late.Count == 0, $"{late.Count} requests started after both proxies dropped it reached the hanging replica");
        var dead = Assert.Single(await app.ActorsAsync($"?state=DEAD&pid={hung}"));
        Assert.Contains("timed out after 1 s", dead!["death_cause"]!.GetValue<string>());
    }

    [Fact]
    public async Task ReplicaHangingInCall_IsReportedByTheProxiesAfter3Timeouts_AndReplaced_OnlyItsStreakFails()
    {
        await using var app = await ServeApp.StartAsync();
        Assert.Equal(200, (await app.PutConfigAsync("""
            http_options: { request_timeout_s: 1 }
            applications:
              - name: flaky
                route_prefix: /flaky
                import_path: Samples:Flaky
                deployments:
                  - name: Flaky
                    num_replicas: 2
                    graceful_shutdown_timeout_s: 1
            """)).Status);
        var before = await RunningAsync(app, 2, "flaky", "Flaky");
        await using var load = Load(app, "/flaky");
        await load.WarmUpAsync();
        await AssertFlowingAsync(load);

        // One replica now hangs in every call; its health check still passes (period 10 s, it answers).
        load.MarkFault();
        using var stall = await app.Http.PostAsync(new Uri(app.Proxy(0), "/flaky/stall"), null);
        var stalled = JsonNode.Parse(await stall.Content.ReadAsStringAsync())!["pid"]!.GetValue<int>();
        Assert.Contains(stalled, before.Select(r => r.Pid!.Value));
        var seconds = await SecondsUntilAsync(load, async () =>
        {
            var r = await app.ReplicasAsync("flaky", "Flaky");
            return r.Count(x => x.State == "RUNNING") == 2 && r.All(x => x.Pid != stalled);
        }, TimeSpan.FromSeconds(60), "the stalled replica replaced");
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        output.WriteLine(report.Line("replica hangs in CallAsync (408s until reported)", seconds));

        // Only requests the stalled replica held fail, as 408s. Per proxy: the max_ongoing_requests slots (5)
        // it fills before the first timeout (nothing there completes within request_timeout_s), plus one
        // refill per timeout of the streak (each timeout frees its slot before the streak is judged), 3;
        // none once the third has marked it suspect. Open-loop load keeps offering requests all along.
        Assert.True(report.RequestsPerSecond >= 50, $"load was {report.RequestsPerSecond:F0} req/s");
        Assert.True(report.InFlightAtFault >= 1, "no request was in flight when the replica stalled");
        var failed = report.Samples.Where(s => !s.Ok).ToList();
        Assert.All(failed, s => Assert.Equal(408, s.Status));
        Assert.True(failed.Count <= 2 * (5 + 3), $"{failed.Count} requests failed (bound 2 proxies × (5 slots + 3 refills)): {report.FailureSummary}");
        Assert.True(failed.Count >= 1, "no request hit the stalled replica: the scenario did not happen");
        var dead = Assert.Single(await app.ActorsAsync($"?state=DEAD&pid={stalled}"));
        Assert.Contains("requests in a row exceeded request_timeout_s=1", dead!["death_cause"]!.GetValue<string>());
        var recovered = report.Samples.Where(s => s.StartedAt > report.FaultAt!.Value + TimeSpan.FromSeconds(seconds)).ToList();
        Assert.NotEmpty(recovered);
        Assert.All(recovered, s => Assert.True(s.Ok, $"{s.Status} {s.Error} after the replacement"));
        // The answered requests were never held up longer than the stalled ones' 1 s budget plus a replay.
        var answered = report.DuringFault.Where(s => s.Ok).ToList();
        // Which answers were slow, when (from the fault) and from which replica: for reading a p99 near its bound.
        var slowestAnswered = string.Join("; ", answered.OrderByDescending(s => s.Ms).Take(5)
            .Select(s => $"{s.Ms:F0} ms at {(s.StartedAt - report.FaultAt!.Value).TotalSeconds:+0.0;-0.0} s (pid {s.Pid}{(s.Pid == stalled ? ", the stalled one" : before.All(r => r.Pid != s.Pid) ? ", its replacement" : "")})"));
        var answeredP99 = LoadReport.Percentile(answered.Select(s => s.Ms), 0.99);
        output.WriteLine($"answered during the fault: {answered.Count}, p99 {answeredP99:F0} ms; slowest: {slowestAnswered}; {report.Harness}");
        Assert.True(answeredP99 <= 500 && answered.Max(s => s.Ms) <= 2_000,
            $"answered requests during the fault: p99 {answeredP99:F0} ms, slowest {answered.Max(s => s.Ms):F0} ms (bounds 500 / 2,000 ms); slowest: {slowestAnswered}; {report.Harness}");
    }

    [Fact]
    public async Task NodeKilled_ItsReplicasComeBackOnTheOtherNodes_NoneLeftRunning_NoRequestFails()
    {
        await using var app = await ServeApp.StartAsync();
        var before = await RunningAsync(app, 6);
        var nodes = (await app.GetJsonAsync("/api/nodes"))["nodes"]!.AsArray();
        var nodePid = nodes.Single(n => n!["node_id"]!.GetValue<string>() == "node-1")!["pid"]!.GetValue<int>();
        var orphans = before.Where(r => r.NodeId == "node-1").Select(r => r.Pid!.Value).ToList();
        Assert.True(orphans.Count >= 1, $"node-1 holds no replica: the test would check nothing ({string.Join(", ", before.Select(r => r.NodeId))})");
        await using var load = Load(app);
        await load.WarmUpAsync();
        await AssertFlowingAsync(load);
        Assert.Contains(load.Completed(), s => orphans.Contains(s.Pid ?? 0)); // the node's replicas serve

        load.MarkFault();
        Kill(nodePid);
        var seconds = await SecondsUntilAsync(load, async () =>
        {
            var r = await app.ReplicasAsync();
            return r.Count(x => x.State == "RUNNING") == 6 && r.All(x => !orphans.Contains(x.Pid!.Value));
        }, TimeSpan.FromSeconds(60), "6 RUNNING replicas, none of the dead node's");
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        output.WriteLine(report.Line("node kill -9", seconds));
        output.WriteLine($"slowest: {report.Slowest()}");

        AssertHeld(report, Bounds.Replayed);
        Assert.All(orphans, pid => Assert.False(ServeApp.ProcessExists(pid), $"replica {pid} of the dead node is still running"));
        // The restart policy brings the node back as a new process, and it rejoins.
        await ServeApp.WaitUntilAsync(() => app.GetJsonAsync("/api/nodes"), n => n["nodes"]!.AsArray().Any(x =>
            x!["node_id"]!.GetValue<string>() == "node-1" && x["state"]!.GetValue<string>() == "ALIVE" && x["pid"]!.GetValue<int>() != nodePid),
            TimeSpan.FromSeconds(30), "node-1 back with a new PID");
    }

    [Fact]
    public async Task ConstructorAlwaysThrows_DeploymentIsDeployFailedWithTheMessage_OtherApplicationsUnaffected()
    {
        await using var app = await ServeApp.StartAsync();
        await RunningAsync(app, 6);
        await using var load = Load(app);
        await load.WarmUpAsync();
        await AssertFlowingAsync(load);

        load.MarkFault();
        var (status, body) = await app.PutConfigAsync(Config("""
              - name: broken
                route_prefix: /broken
                import_path: Samples:BrokenConstructor
            """));
        Assert.True(status == 200, body);
        var seconds = await SecondsUntilAsync(load, async () => (await app.DeploymentStatusAsync("broken", "BrokenConstructor"))?.Status == "DEPLOY_FAILED",
            TimeSpan.FromSeconds(60), "broken to be DEPLOY_FAILED");
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        output.WriteLine(report.Line("constructor always throws (time to DEPLOY_FAILED)", seconds));

        AssertHeld(report, Bounds.Untouched);
        var details = await app.GetJsonAsync("/api/serve/applications/");
        var broken = details["applications"]!["broken"]!;
        Assert.Equal("DEPLOY_FAILED", broken["status"]!.GetValue<string>());
        Assert.Contains("model weights not found at /models/missing.bin", broken["message"]!.GetValue<string>());
        Assert.Contains("failed to start 3 times", broken["deployments"]!["BrokenConstructor"]!["message"]!.GetValue<string>());
        Assert.Equal("RUNNING", details["applications"]!["sleepy"]!["status"]!.GetValue<string>());
        Assert.Equal(6, (await app.ReplicasAsync()).Count(r => r.State == "RUNNING"));
    }

    private static string FlakyApp(double timeoutS) => $$"""
          - name: flaky
            route_prefix: /flaky
            import_path: Samples:Flaky
            deployments:
              - name: Flaky
                num_replicas: 2
                health_check_period_s: 1
                health_check_timeout_s: {{timeoutS}}
                graceful_shutdown_timeout_s: 5
        """;
}
