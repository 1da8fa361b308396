using System.Diagnostics;
using System.Net;
using ServeAspire.EndToEndTests.Infrastructure;
using Xunit.Abstractions;
using static ServeAspire.EndToEndTests.Failures.FailureScenario;

namespace ServeAspire.EndToEndTests.Failures;

/// <summary>The controller, Redis and proxy rows of the failure matrix, each under steady load, each on its own app.</summary>
[Trait("Category", "Failover")]
public sealed class ControlPlaneFailureTests(ITestOutputHelper output)
{
    private static Dictionary<string, int> Pids(IEnumerable<ReplicaView> replicas) => replicas.ToDictionary(r => r.ReplicaId, r => r.Pid!.Value);

    /// <summary>A config PUT, retried while the control plane answers 503 or the port resets (an election).</summary>
    private static async Task<(int Status, int Attempts)> PutWithRetryAsync(ServeApp app, string config)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var (status, _) = await app.PutConfigAsync(config);
                if (status != 503 || attempt >= 40) return (status, attempt);
            }
            catch (HttpRequestException) when (attempt < 40) { }
            await Task.Delay(250); // Retry-After says 1 s; a quarter keeps the measurement fine-grained
        }
    }

    [Fact]
    public async Task LeaderKilled_StandbyLeadsWithin2Ttl_ReplicaPidsUnchanged_ConfigPutWorks_NoRequestFails()
    {
        await using var app = await ServeApp.StartAsync();
        var before = Pids(await RunningAsync(app, 6));
        var (leaderIndex, leaderPid) = await app.LeaderAsync(TimeSpan.FromSeconds(30));
        await using var load = Load(app);
        await load.WarmUpAsync();

        Kill(leaderPid);
        load.MarkFault();
        var sw = Stopwatch.StartNew();
        var standby = 1 - leaderIndex;
        await ServeApp.WaitUntilAsync(() => app.ControllerStatusAsync(standby), s => s?["is_leader"]?.GetValue<bool>() == true, TimeSpan.FromSeconds(20), "the standby to lead");
        var takeover = sw.Elapsed;
        var (status, attempts) = await PutWithRetryAsync(app, Config().Replace("request_timeout_s: 30", "request_timeout_s: 31"));
        Assert.Equal(200, status);
        var seconds = await SecondsUntilAsync(load, async () =>
            (await app.GetJsonAsync("/api/serve/applications/"))["http_options"]?["request_timeout_s"]?.GetValue<double>() == 31, TimeSpan.FromSeconds(20), "the new config applied");
        var after = Pids(await RunningAsync(app, 6));
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        output.WriteLine(report.Line("controller leader kill -9", takeover.TotalSeconds));
        output.WriteLine($"standby led after {takeover.TotalSeconds:F1} s; PUT succeeded on attempt {attempts}; config applied {seconds:F1} s after the kill");
        output.WriteLine($"slowest: {report.Slowest()}");

        AssertNoFailures(report);
        Assert.True(takeover <= TimeSpan.FromSeconds(2 * 3), $"takeover took {takeover.TotalSeconds:F1} s (limit 2 × lease TTL of 3 s)");
        Assert.Equal(before, after);
    }

    [Fact]
    public async Task BothControllersKilled_RestartPolicyBringsThemBackAfter20s_StateRecovered_ReplicasAdopted_NoRequestFails()
    {
        await using var app = await ServeApp.StartAsync(["Serve:RestartDelaySeconds=20"]);
        var before = Pids(await RunningAsync(app, 6));
        var pids = new List<int>();
        for (var i = 0; i < 2; i++) pids.Add((await app.ControllerStatusAsync(i))!["pid"]!.GetValue<int>());
        await using var load = Load(app);
        await load.WarmUpAsync();

        foreach (var pid in pids) Kill(pid);
        load.MarkFault();
        var (_, newPid) = await app.LeaderAsync(TimeSpan.FromSeconds(60));
        var seconds = await SecondsUntilAsync(load, async () => (await app.ReplicasAsync()).Count(r => r.State == "RUNNING") == 6, TimeSpan.FromSeconds(30), "state recovered");
        var after = Pids(await app.ReplicasAsync());
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        output.WriteLine(report.Line("both controllers kill -9 (down 20 s)", seconds));

        AssertNoFailures(report);
        Assert.True(seconds >= 20, $"controllers were back after {seconds:F1} s, before the 20 s restart delay");
        Assert.DoesNotContain(newPid, pids);
        Assert.Equal(before, after); // adopted: same replicas, same PIDs
        Assert.Equal("RUNNING", (await app.GetJsonAsync("/api/serve/applications/"))["applications"]!["sleepy"]!["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task RedisKilled_Down10s_NoRequestFails_CheckpointIdentical_ControllerResumes()
    {
        await using var app = await ServeApp.StartAsync(["Serve:RestartDelaySeconds=10"]);
        var before = Pids(await RunningAsync(app, 6));
        await ServeApp.WaitUntilAsync(() => app.ReplicasAsync(), r => r.Count == 6, TimeSpan.FromSeconds(10), "checkpoint settled");
        var configBefore = await app.RedisAsync("GET", "serve:e2e:config");
        var stateBefore = await app.RedisAsync("GET", "serve:e2e:deployment_state");
        var redisPid = int.Parse((await app.RedisAsync("INFO", "server")).Split('\n').First(l => l.StartsWith("process_id:"))["process_id:".Length..].Trim());
        await using var load = Load(app);
        await load.WarmUpAsync();

        Kill(redisPid);
        load.MarkFault();
        await ServeApp.WaitUntilAsync(() => app.RedisAsync("PING"), r => r == "PONG", TimeSpan.FromSeconds(60), "redis back");
        var down = (load.Elapsed - load.FaultAt).TotalSeconds;
        await app.LeaderAsync(TimeSpan.FromSeconds(30));
        var configAfter = await app.RedisAsync("GET", "serve:e2e:config");
        var stateAfter = await app.RedisAsync("GET", "serve:e2e:deployment_state");

        // The controller resumes: a scale change after the restart works.
        var (status, _) = await PutWithRetryAsync(app, Config(sleepyReplicas: 4));
        Assert.Equal(200, status);
        var seconds = await SecondsUntilAsync(load, async () =>
        {
            var r = await app.ReplicasAsync();
            return r.Count == 4 && r.All(x => x.State == "RUNNING");
        }, TimeSpan.FromSeconds(60), "scaled to 4 after the restart");
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        output.WriteLine(report.Line("redis kill -9 (down 10 s)", seconds));
        output.WriteLine($"redis was down {down:F1} s");

        AssertNoFailures(report);
        Assert.True(down >= 10, $"redis was back after {down:F1} s, before the 10 s restart delay");
        Assert.Equal(configBefore, configAfter);
        Assert.Equal(stateBefore, stateAfter);
        var remaining = Pids(await app.ReplicasAsync());
        Assert.All(remaining, r => Assert.Equal(before[r.Key], r.Value)); // no replica was restarted by the outage
    }

    [Fact]
    public async Task ProxyKilled_OtherProxysClientsSeeNothing_ItComesBackWithANewPid_ServingWithin10s()
    {
        await using var app = await ServeApp.StartAsync();
        await RunningAsync(app, 6);
        var oldPid = (await app.ActorsAsync("?name=SERVE_PROXY_ACTOR-proxy-1"))[0]!["pid"]!.GetValue<int>();
        await using var load = new LoadGenerator([new Uri(app.Proxy(0), "/")], RequestsPerSecond);
        await load.WarmUpAsync();

        Kill(oldPid);
        load.MarkFault();
        var seconds = await SecondsUntilAsync(load, async () => await app.PidThroughProxyAsync(1) is not null, TimeSpan.FromSeconds(30), "proxy-1 serving again");
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        output.WriteLine(report.Line("proxy kill -9 (load on the other proxy)", seconds));

        AssertNoFailures(report);
        Assert.True(seconds <= 10, $"proxy-1 served again after {seconds:F1} s (limit 10 s)");
        var newPid = await ServeApp.WaitUntilAsync(async () => (await app.ActorsAsync("?name=SERVE_PROXY_ACTOR-proxy-1&state=ALIVE")).Select(a => a!["pid"]!.GetValue<int>()).FirstOrDefault(),
            pid => pid != 0 && pid != oldPid, TimeSpan.FromSeconds(10), "proxy-1 listed ALIVE with its new PID");
        Assert.NotEqual(oldPid, newPid);
    }

    [Fact]
    public async Task ProxySigterm_DrainsRequestsInFlight_HealthzTurns503BeforeExit()
    {
        await using var app = await ServeApp.StartAsync();
        Assert.Equal(200, (await app.PutConfigAsync(Config("""
              - name: slow
                route_prefix: /slow
                import_path: Samples:Slow
                deployments: [ { name: Slow, num_replicas: 2, max_ongoing_requests: 100 } ]
            """))).Status);
        await RunningAsync(app, 2, "slow", "Slow");
        var proxyPid = (await app.ActorsAsync("?name=SERVE_PROXY_ACTOR-proxy-0"))[0]!["pid"]!.GetValue<int>();
        await using var load = new LoadGenerator([new Uri(app.Proxy(0), "/slow?ms=500")], RequestsPerSecond, workers: 64);
        await load.WarmUpAsync();

        // Watch healthz while the proxy drains: it must say 503 "being drained" before the port closes.
        var healthz = new List<(TimeSpan At, string Answer)>();
        var clock = Stopwatch.StartNew();
        using var watchStop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var watch = Task.Run(async () =>
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            while (!watchStop.IsCancellationRequested)
            {
                string answer;
                try
                {
                    using var r = await http.GetAsync(new Uri(app.Proxy(0), "/-/healthz"));
                    answer = $"{(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}";
                }
                catch (HttpRequestException) { answer = "refused"; }
                healthz.Add((clock.Elapsed, answer));
                if (answer == "refused") break;
                await Task.Delay(50);
            }
        });
        Process.Start("kill", ["-TERM", proxyPid.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
        load.MarkFault();
        var sigtermAt = load.Elapsed;
        var sigtermOnClock = clock.Elapsed;
        await watch;
        var report = await load.StopAsync();

        var inFlightAtSigterm = report.Samples.Where(s => s.StartedAt < sigtermAt).ToList();
        var exitedAfter = (healthz[^1].At - sigtermOnClock).TotalSeconds;
        output.WriteLine($"proxy SIGTERM: {inFlightAtSigterm.Count} requests started before it, {inFlightAtSigterm.Count(s => !s.Ok)} failed; healthz: {string.Join(" → ", healthz.Select(h => h.Answer).Distinct())}; port closed {exitedAfter:F1} s after SIGTERM");
        output.WriteLine(report.Only(s => s.StartedAt < sigtermAt).Line("proxy SIGTERM drain (requests started before it; s = SIGTERM to exit)", exitedAfter));
        Assert.True(inFlightAtSigterm.Count >= 50, "too little load before the SIGTERM");
        Assert.All(inFlightAtSigterm, s => Assert.True(s.Ok, $"a request in flight at SIGTERM failed: {s.Error}"));
        var firstDrained = healthz.FindIndex(h => h.Answer == "503 This node is being drained.");
        Assert.True(firstDrained >= 0, $"healthz never said it was draining: {string.Join(", ", healthz.Select(h => h.Answer).Distinct())}");
        Assert.DoesNotContain(healthz.Skip(firstDrained), h => h.Answer.StartsWith("200"));
        Assert.Equal("refused", healthz[^1].Answer); // and then it exited
    }

    [Fact]
    public async Task SplitBrain_SuspendedLeaderResumes_StepsDown_StandbyKeepsLeading_StateIntact()
    {
        await using var app = await ServeApp.StartAsync();
        await RunningAsync(app, 6);
        var (oldIndex, oldPid) = await app.LeaderAsync(TimeSpan.FromSeconds(30));
        var oldToken = (await app.ControllerStatusAsync(oldIndex))!["token"]!.GetValue<long>();
        var configBefore = await app.RedisAsync("GET", "serve:e2e:config");
        await using var load = Load(app);
        await load.WarmUpAsync();

        Process.Start("kill", ["-STOP", oldPid.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
        load.MarkFault();
        try
        {
            await ServeApp.WaitUntilAsync(() => app.ControllerStatusAsync(1 - oldIndex), s => s?["is_leader"]?.GetValue<bool>() == true, TimeSpan.FromSeconds(20), "the standby to lead");
        }
        finally
        {
            Process.Start("kill", ["-CONT", oldPid.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
        }
        var seconds = (load.Elapsed - load.FaultAt).TotalSeconds;
        var old = await ServeApp.WaitUntilAsync(() => app.ControllerStatusAsync(oldIndex), s => s is not null, TimeSpan.FromSeconds(10), "the old leader to answer");
        // Give the resumed instance a few of its own renewal periods: it must stay a follower.
        for (var i = 0; i < 3; i++)
        {
            old = await ServeApp.WaitUntilAsync(() => app.ControllerStatusAsync(oldIndex), s => s is not null, TimeSpan.FromSeconds(5), "old leader status");
            Assert.False(old!["is_leader"]!.GetValue<bool>(), "the resumed old leader still claims to lead");
            await Task.Delay(1000);
        }
        var newLeader = (await app.ControllerStatusAsync(1 - oldIndex))!;
        Assert.True(newLeader["is_leader"]!.GetValue<bool>());
        Assert.True(newLeader["token"]!.GetValue<long>() > oldToken, "the new tenure must have a newer fencing token");
        Assert.Equal(0, old!["token"]!.GetValue<long>());
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        output.WriteLine(report.Line("split brain (leader SIGSTOP past its lease)", seconds));
        output.WriteLine($"old leader after resume: {old.ToJsonString()}");

        AssertNoFailures(report);
        Assert.Equal(configBefore, await app.RedisAsync("GET", "serve:e2e:config"));
        Assert.Equal(6, (await app.ReplicasAsync()).Count(r => r.State == "RUNNING"));
    }
}
