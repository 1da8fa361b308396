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
    public async Task ReplicaKilled_NoRequestFails_ReplacementRunsWithin10sPlusConstructor_KilledPidNeverAnswersAgain()
    {
        await using var app = await ServeApp.StartAsync();
        var before = await RunningAsync(app, 6);
        await using var load = Load(app);
        await load.WarmUpAsync();

        var victim = before[0];
        Kill(victim.Pid!.Value);
        load.MarkFault();
        var seconds = await SecondsUntilAsync(load, async () =>
        {
            var r = await app.ReplicasAsync();
            return r.Count(x => x.State == "RUNNING") == 6 && r.All(x => x.Pid != victim.Pid);
        }, TimeSpan.FromSeconds(60), "a RUNNING replacement");
        await load.WarmUpAsync(load.Count + 100); // keep the load on after recovery
        var report = await load.StopAsync();
        output.WriteLine(report.Line("replica kill -9", seconds));

        AssertNoFailures(report);
        Assert.True(seconds <= 10 + 10, $"replacement took {seconds:F1} s (limit: 10 s + SleepyPid's 10 s constructor)");
        var late = report.Samples.Where(s => s.StartedAt > report.FaultAt!.Value + TimeSpan.FromMilliseconds(100) && s.Pid == victim.Pid).ToList();
        Assert.Empty(late);
        var dead = await app.ActorsAsync($"?state=DEAD&pid={victim.Pid}");
        Assert.Single(dead);
    }

    [Fact]
    public async Task UnhealthyReplica_IsMarkedUnhealthyAfter3FailedChecks_AndReplaced_NoRequestFails()
    {
        await using var app = await ServeApp.StartAsync();
        Assert.Equal(200, (await app.PutConfigAsync(Config(FlakyApp(timeoutS: 1)))).Status);
        var before = await RunningAsync(app, 2, "flaky", "Flaky");
        await using var load = Load(app, "/flaky");
        await load.WarmUpAsync();

        using var toggle = await app.Http.PostAsync(new Uri(app.Proxy(0), "/flaky/toggle"), null);
        var flipped = JsonNode.Parse(await toggle.Content.ReadAsStringAsync())!["pid"]!.GetValue<int>();
        load.MarkFault();
        var sawUnhealthy = false;
        var seconds = await SecondsUntilAsync(load, async () =>
        {
            sawUnhealthy |= (await app.DeploymentStatusAsync("flaky", "Flaky"))?.Status == "UNHEALTHY";
            var r = await app.ReplicasAsync("flaky", "Flaky");
            return r.Count(x => x.State == "RUNNING") == 2 && r.All(x => x.Pid != flipped);
        }, TimeSpan.FromSeconds(60), "the unhealthy replica replaced");
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        output.WriteLine(report.Line("replica unhealthy", seconds));

        AssertNoFailures(report);
        Assert.True(sawUnhealthy, "the deployment never showed UNHEALTHY");
        var dead = Assert.Single(await app.ActorsAsync($"?state=DEAD&pid={flipped}"));
        Assert.Contains("health check failed 3 times in a row", dead!["death_cause"]!.GetValue<string>());
        Assert.Contains("toggled unhealthy", dead["death_cause"]!.GetValue<string>());
        Assert.Contains(before, r => r.Pid == flipped);
    }

    [Fact]
    public async Task HangingHealthCheck_TimesOut_AndTheReplicaIsReplaced_NoRequestFails()
    {
        await using var app = await ServeApp.StartAsync();
        Assert.Equal(200, (await app.PutConfigAsync(Config(FlakyApp(timeoutS: 1)))).Status);
        await RunningAsync(app, 2, "flaky", "Flaky");
        await using var load = Load(app, "/flaky");
        await load.WarmUpAsync();

        using var hang = await app.Http.PostAsync(new Uri(app.Proxy(1), "/flaky/hang"), null);
        var hung = JsonNode.Parse(await hang.Content.ReadAsStringAsync())!["pid"]!.GetValue<int>();
        load.MarkFault();
        var seconds = await SecondsUntilAsync(load, async () =>
        {
            var r = await app.ReplicasAsync("flaky", "Flaky");
            return r.Count(x => x.State == "RUNNING") == 2 && r.All(x => x.Pid != hung);
        }, TimeSpan.FromSeconds(60), "the hanging replica replaced");
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        output.WriteLine(report.Line("health check hangs", seconds));

        AssertNoFailures(report);
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

        // One replica now hangs in every call; its health check still passes (period 10 s, it answers).
        using var stall = await app.Http.PostAsync(new Uri(app.Proxy(0), "/flaky/stall"), null);
        var stalled = JsonNode.Parse(await stall.Content.ReadAsStringAsync())!["pid"]!.GetValue<int>();
        Assert.Contains(stalled, before.Select(r => r.Pid!.Value));
        load.MarkFault();
        var seconds = await SecondsUntilAsync(load, async () =>
        {
            var r = await app.ReplicasAsync("flaky", "Flaky");
            return r.Count(x => x.State == "RUNNING") == 2 && r.All(x => x.Pid != stalled);
        }, TimeSpan.FromSeconds(60), "the stalled replica replaced");
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        output.WriteLine(report.Line("replica hangs in CallAsync (408s until reported)", seconds));

        // Only requests the stalled replica held fail, as 408s: per proxy at most its max_ongoing_requests
        // slots there (5) before the third timeout in a row reports it; none once it is out of the routes.
        Assert.True(report.RequestsPerSecond >= 50, $"load was {report.RequestsPerSecond:F0} req/s");
        var failed = report.Samples.Where(s => !s.Ok).ToList();
        Assert.All(failed, s => Assert.Equal(408, s.Status));
        Assert.True(failed.Count <= 2 * 5, $"{failed.Count} requests failed: {report.FailureSummary}");
        Assert.True(failed.Count >= 1, "no request hit the stalled replica: the scenario did not happen");
        var dead = Assert.Single(await app.ActorsAsync($"?state=DEAD&pid={stalled}"));
        Assert.Contains("requests in a row exceeded request_timeout_s=1", dead!["death_cause"]!.GetValue<string>());
        var recovered = report.Samples.Where(s => s.StartedAt > report.FaultAt!.Value + TimeSpan.FromSeconds(seconds)).ToList();
        Assert.NotEmpty(recovered);
        Assert.All(recovered, s => Assert.True(s.Ok, $"{s.Status} {s.Error} after the replacement"));
    }

    [Fact]
    public async Task NodeKilled_ItsReplicasComeBackOnTheOtherNodes_NoneLeftRunning_NoRequestFails()
    {
        await using var app = await ServeApp.StartAsync();
        var before = await RunningAsync(app, 6);
        var nodes = (await app.GetJsonAsync("/api/nodes"))["nodes"]!.AsArray();
        var nodePid = nodes.Single(n => n!["node_id"]!.GetValue<string>() == "node-1")!["pid"]!.GetValue<int>();
        var orphans = before.Where(r => r.NodeId == "node-1").Select(r => r.Pid!.Value).ToList();
        await using var load = Load(app);
        await load.WarmUpAsync();

        Kill(nodePid);
        load.MarkFault();
        var seconds = await SecondsUntilAsync(load, async () =>
        {
            var r = await app.ReplicasAsync();
            return r.Count(x => x.State == "RUNNING") == 6 && r.All(x => !orphans.Contains(x.Pid!.Value));
        }, TimeSpan.FromSeconds(60), "6 RUNNING replicas, none of the dead node's");
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        output.WriteLine(report.Line("node kill -9", seconds));

        AssertNoFailures(report);
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

        var (status, body) = await app.PutConfigAsync(Config("""
              - name: broken
                route_prefix: /broken
                import_path: Samples:BrokenConstructor
            """));
        Assert.True(status == 200, body);
        load.MarkFault();
        var seconds = await SecondsUntilAsync(load, async () => (await app.DeploymentStatusAsync("broken", "BrokenConstructor"))?.Status == "DEPLOY_FAILED",
            TimeSpan.FromSeconds(60), "broken to be DEPLOY_FAILED");
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        output.WriteLine(report.Line("constructor always throws (time to DEPLOY_FAILED)", seconds));

        AssertNoFailures(report);
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
