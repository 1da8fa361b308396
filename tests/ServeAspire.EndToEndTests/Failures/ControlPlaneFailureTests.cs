using System.Text.Json.Nodes;
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
    public async Task LeaderKilled_StandbyLeadsAndRecoversWithin2s_ReplicaPidsUnchanged_ConfigPutWorks_NoRequestFails()
    {
        await using var app = await ServeApp.StartAsync();
        var before = Pids(await RunningAsync(app, 6));
        var (leaderIndex, leaderPid) = await app.LeaderAsync(TimeSpan.FromSeconds(30));
        await using var load = Load(app);
        await load.WarmUpAsync();
        await AssertFlowingAsync(load);

        var standby = 1 - leaderIndex;
        var ticksBefore = (await app.ControllerStatusAsync(standby))!["ticks"]!.GetValue<long>();
        load.MarkFault();
        Kill(leaderPid);
        var sw = Stopwatch.StartNew();
        // The dead leader renews no more: the lease's remaining time, read now, is when it expires.
        var leaseLeft = TimeSpan.FromMilliseconds(long.Parse(await app.RedisAsync("PTTL", "serve:e2e:controller:leader"), System.Globalization.CultureInfo.InvariantCulture));
        var leaseExpired = sw.Elapsed + leaseLeft;
        var steps = await WatchTakeoverAsync(app, standby, ticksBefore, sw);
        var takeover = steps.Recovered;
        var (status, attempts) = await PutWithRetryAsync(app, Config().Replace("request_timeout_s: 30", "request_timeout_s: 31"));
        Assert.Equal(200, status);
        var seconds = await SecondsUntilAsync(load, async () =>
            (await app.GetJsonAsync("/api/serve/applications/"))["http_options"]?["request_timeout_s"]?.GetValue<double>() == 31, TimeSpan.FromSeconds(20), "the new config applied");
        var after = Pids(await RunningAsync(app, 6));
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        output.WriteLine(report.Line("controller leader kill -9", takeover.TotalSeconds));
        output.WriteLine($"takeover breakdown from the kill: lease expired {leaseExpired.TotalMilliseconds:F0} ms, standby led {steps.Led.TotalMilliseconds:F0} ms (+{(steps.Led - leaseExpired).TotalMilliseconds:F0}), "
            + $"recovered {steps.Recovered.TotalMilliseconds:F0} ms (+{(steps.Recovered - steps.Led).TotalMilliseconds:F0}), first tick done {steps.FirstTick.TotalMilliseconds:F0} ms (+{(steps.FirstTick - steps.Recovered).TotalMilliseconds:F0}); status polled every 20 ms");
        output.WriteLine($"standby led and recovered after {takeover.TotalSeconds:F2} s; PUT succeeded on attempt {attempts}; config applied {seconds:F1} s after the kill");
        output.WriteLine($"slowest: {report.Slowest()}");

        AssertHeld(report, Bounds.Untouched); // the data path does not go through the controller
        // The product's figure: the lease's 1.5 s TTL at most, the standby waking at its expiry, and a recovery rehearsed while standing by.
        Assert.True(takeover <= TimeSpan.FromSeconds(2), $"the standby led and had recovered {takeover.TotalSeconds:F2} s after the kill (limit 2 s)");
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
        await AssertFlowingAsync(load);

        load.MarkFault();
        foreach (var pid in pids) Kill(pid);
        var (_, newPid) = await app.LeaderAsync(TimeSpan.FromSeconds(60));
        var seconds = await SecondsUntilAsync(load, async () => (await app.ReplicasAsync()).Count(r => r.State == "RUNNING") == 6, TimeSpan.FromSeconds(30), "state recovered");
        var after = Pids(await app.ReplicasAsync());
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        output.WriteLine(report.Line("both controllers kill -9 (down 20 s)", seconds));

        AssertHeld(report, Bounds.Untouched);
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
        // The checkpoint in Redis (not the API's view) has every replica RUNNING: what the restart must keep.
        await ServeApp.WaitUntilAsync(() => app.RedisAsync("GET", "serve:e2e:deployment_state"),
            json => System.Text.Json.Nodes.JsonNode.Parse(json)?["replicas"]?.AsArray() is { Count: 6 } r && r.All(x => x!["state"]!.GetValue<string>() == "RUNNING"),
            TimeSpan.FromSeconds(30), "the checkpoint to hold 6 RUNNING replicas");
        var configBefore = await app.RedisAsync("GET", "serve:e2e:config");
        var stateBefore = await app.RedisAsync("GET", "serve:e2e:deployment_state");
        var redisPid = int.Parse((await app.RedisAsync("INFO", "server")).Split('\n').First(l => l.StartsWith("process_id:"))["process_id:".Length..].Trim());
        await using var load = Load(app);
        await load.WarmUpAsync();
        await AssertFlowingAsync(load);

        load.MarkFault();
        Kill(redisPid);
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

        AssertHeld(report, Bounds.Untouched); // proxies keep their cached table; the scale-down drains
        Assert.True(down >= 10, $"redis was back after {down:F1} s, before the 10 s restart delay");
        Assert.Equal(configBefore, configAfter);
        Assert.Equal(stateBefore, stateAfter);
        var remaining = Pids(await app.ReplicasAsync());
        Assert.All(remaining, r => Assert.Equal(before[r.Key], r.Value)); // no replica was restarted by the outage
    }

    [Fact]
    public async Task ProxyKilled_OtherProxysClientsSeeNothing_ItComesBackWithANewPidAndServes()
    {
        await using var app = await ServeApp.StartAsync();
        await RunningAsync(app, 6);
        var oldPid = (await app.ActorsAsync("?name=SERVE_PROXY_ACTOR-proxy-1"))[0]!["pid"]!.GetValue<int>();
        await using var load = Load([app.Proxy(0)]);
        await load.WarmUpAsync();
        await AssertFlowingAsync(load);

        load.MarkFault();
        Kill(oldPid);
        // The wait's deadline is the only time limit: the restart is the AppHost's 1 s delay plus a .NET
        // cold start, which is the machine's, not the product's (reported in the line, not asserted).
        var seconds = await SecondsUntilAsync(load, async () => await app.PidThroughProxyAsync(1) is not null, TimeSpan.FromSeconds(60), "proxy-1 serving again");
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        output.WriteLine(report.Line("proxy kill -9 (load on the other proxy)", seconds));

        AssertHeld(report, Bounds.Untouched);
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
        await using var load = new LoadGenerator([new Uri(app.Proxy(0), "/slow?ms=500")], RequestsPerSecond);
        await load.WarmUpAsync();
        await AssertFlowingAsync(load);

        // Watch healthz while the proxy drains: it must say 503 "being drained" before the port closes.
        var healthz = new List<(TimeSpan At, string Answer)>();
        var drainHeaders = new List<string>();
        var exited = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // The controller's view of proxy-0 meanwhile (Ray's ProxyStatus), polled until it leaves HEALTHY for good.
        var statuses = new List<string>();
        using var statusStop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var statusWatch = Task.Run(async () =>
        {
            while (!statusStop.IsCancellationRequested)
            {
                try
                {
                    var status = (await app.GetJsonAsync("/api/serve/applications/", statusStop.Token))["proxies"]?["proxy-0"]?["status"]?.GetValue<string>() ?? "absent";
                    if (statuses.Count == 0 || statuses[^1] != status) statuses.Add(status);
                    // Seen draining, and the proxy has exited (the restart policy may bring a new one back at once).
                    if (statuses.Contains("DRAINING") && (status is "UNHEALTHY" or "DRAINED" || exited.Task.IsCompleted)) break;
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException) { }
                await Task.Delay(100);
            }
        });
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
                    if (r.Headers.TryGetValues("X-Serve-Drain", out var drain)) drainHeaders.Add(drain.First());
                }
                catch (HttpRequestException) { answer = "refused"; }
                catch (TaskCanceledException) { answer = "no answer within 2 s"; } // recorded; the assertions below judge it
                healthz.Add((clock.Elapsed, answer));
                if (answer == "refused")
                {
                    exited.TrySetResult();
                    break;
                }
                await Task.Delay(50);
            }
        });
        load.MarkFault();
        var sigtermAt = load.Elapsed;
        Process.Start("kill", ["-TERM", proxyPid.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
        var sigtermOnClock = clock.Elapsed;
        await watch;
        var report = await load.StopAsync();

        // Requests started before SIGTERM and not yet answered when it arrived: the ones the drain is for.
        var inFlightAtSigterm = report.Samples.Where(s => s.StartedAt < sigtermAt && s.EndedAt > sigtermAt).ToList();
        var exitedAfter = (healthz[^1].At - sigtermOnClock).TotalSeconds;
        output.WriteLine($"proxy SIGTERM: {inFlightAtSigterm.Count} requests started before it, {inFlightAtSigterm.Count(s => !s.Ok)} failed; healthz: {string.Join(" → ", healthz.Select(h => h.Answer).Distinct())}; port closed {exitedAfter:F1} s after SIGTERM");
        output.WriteLine(report.Only(s => s.StartedAt < sigtermAt).Line("proxy SIGTERM drain (requests started before it; s = SIGTERM to exit)", exitedAfter));
        // 100 req/s of 500 ms requests keep about 50 in flight; fewer than 10 means the load was not there.
        Assert.True(inFlightAtSigterm.Count >= 10, $"only {inFlightAtSigterm.Count} requests were in flight at SIGTERM");
        Assert.All(inFlightAtSigterm, s => Assert.True(s.Ok, $"a request in flight at SIGTERM failed: {s.Error}"));
        var firstDrained = healthz.FindIndex(h => h.Answer == "503 This node is being drained.");
        Assert.True(firstDrained >= 0, $"healthz never said it was draining: {string.Join(", ", healthz.Select(h => h.Answer).Distinct())}");
        Assert.DoesNotContain(healthz.Skip(firstDrained), h => h.Answer.StartsWith("200"));
        Assert.Equal("refused", healthz[^1].Answer); // and then it exited
        // While requests were still in flight the proxy said "draining" (DRAINED needs none in flight).
        Assert.True(drainHeaders.Contains("draining"), $"X-Serve-Drain headers seen: {string.Join(", ", drainHeaders.Distinct())}");
        await statusWatch;
        output.WriteLine($"the controller's view of proxy-0: {string.Join(" → ", statuses)}");
        Assert.True(statuses.Contains("DRAINING"), $"the controller reported proxy-0 as {string.Join(" → ", statuses)}; expected DRAINING on the way out");
    }

    /// <summary>
    /// Split brain, made to happen: a failpoint parks the leader's tick with its token in hand (at the start
    /// of a tick, or between the store's token check and the node calls), the leader is SIGSTOPped past its
    /// lease, the standby takes over and scales 6 → 4, the old leader is resumed and released. It must step
    /// down, and whatever its stale tick tries must be refused and counted: the store's checkpoint/route
    /// writes ("tick") or the nodes' stop calls ("act").
    /// </summary>
    [Theory]
    [InlineData("tick")]
    [InlineData("act")]
    public async Task SplitBrain_DeposedLeaderActsOnItsStaleToken_RefusedAndCounted_StandbyKeepsLeading(string position)
    {
        var failpoints = Directory.CreateTempSubdirectory("serveaspire-failpoint-");
        try
        {
            var failpoint = Path.Combine(failpoints.FullName, "failpoint");
            await using var app = await ServeApp.StartAsync([], new Dictionary<string, string> { ["Controller__FailpointFile"] = failpoint });
            await RunningAsync(app, 6);
            var (oldIndex, oldPid) = await app.LeaderAsync(TimeSpan.FromSeconds(30));
            var oldToken = (await app.ControllerStatusAsync(oldIndex))!["token"]!.GetValue<long>();
            await using var load = Load(app);
            await load.WarmUpAsync();
            await AssertFlowingAsync(load);

            // 1. Park the leader's tick. "tick": the next tick; "act": the first tick with node calls, which the scale-down brings.
            await File.WriteAllTextAsync(failpoint, position);
            if (position == "tick") await WaitHeldAsync(failpoint, oldPid);
            var (status, body) = await app.PutConfigAsync(Config(sleepyReplicas: 4));
            Assert.True(status == 200, body);
            if (position == "act") await WaitHeldAsync(failpoint, oldPid);

            // 2. Pause it past its lease; the standby leads and does the scale-down itself.
            load.MarkFault();
            Process.Start("kill", ["-STOP", oldPid.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
            JsonNode newLeader;
            IReadOnlyList<ReplicaView> scaled;
            try
            {
                newLeader = (await ServeApp.WaitUntilAsync(() => app.ControllerStatusAsync(1 - oldIndex), s => s?["is_leader"]?.GetValue<bool>() == true && s["recovered"]!.GetValue<bool>(),
                    TimeSpan.FromSeconds(20), "the standby to lead"))!;
                // Asked of the new leader's own port: on the shared one (SO_REUSEPORT) the paused process still takes a share of connections.
                scaled = await ServeApp.WaitUntilAsync(() => app.ReplicasAsync(controller: app.ControllerInstance(1 - oldIndex)), r => r.Count == 4 && r.All(x => x.State == "RUNNING"), TimeSpan.FromSeconds(30), "the new leader to scale to 4");
            }
            finally
            {
                Process.Start("kill", ["-CONT", oldPid.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
            }
            var newToken = newLeader["token"]!.GetValue<long>();
            Assert.True(newToken > oldToken, $"the new tenure's token {newToken} is not newer than {oldToken}");

            // 3. Resumed, the old leader notices it lost the lease (its tick still parked, token in hand).
            var old = await ServeApp.WaitUntilAsync(() => app.ControllerStatusAsync(oldIndex), s => s?["holds_tenure"]?.GetValue<bool>() == false,
                TimeSpan.FromSeconds(10), "the resumed old leader to step down");
            Assert.Equal(0, old!["fenced_writes"]!.GetValue<long>() + old["fenced_node_calls"]!.GetValue<long>());

            // 4. Release the parked tick: everything it tries on its stale token is refused, and counted.
            File.Delete(failpoint + ".held");
            var counter = position == "tick" ? "fenced_writes" : "fenced_node_calls";
            old = await ServeApp.WaitUntilAsync(() => app.ControllerStatusAsync(oldIndex), s => s?[counter]?.GetValue<long>() >= 1,
                TimeSpan.FromSeconds(10), $"the old leader's stale {position} tick to be refused ({counter})");
            var routesVersion = await RoutesVersionAsync(app);

            // 5. Over several renewal periods: the standby keeps leading on the same token, the old one stays
            //    down, the routing table's version never goes back, and the old tick stopped nothing.
            var highest = routesVersion;
            await HoldsForAsync(async () => (New: await app.ControllerStatusAsync(1 - oldIndex), Old: await app.ControllerStatusAsync(oldIndex), Routes: await RoutesVersionAsync(app)),
                s =>
                {
                    var ok = s.New?["is_leader"]?.GetValue<bool>() == true && s.New["token"]!.GetValue<long>() == newToken
                        && s.Old?["holds_tenure"]?.GetValue<bool>() == false && s.Routes >= highest;
                    highest = Math.Max(highest, s.Routes);
                    return ok;
                }, TimeSpan.FromSeconds(5), "the new leadership");
            var after = await app.ReplicasAsync();
            Assert.Equal(scaled.Select(r => (r.ReplicaId, r.Pid)).Order(), after.Select(r => (r.ReplicaId, r.Pid)).Order());
            Assert.All(after, r => Assert.Equal("RUNNING", r.State));
            await load.WarmUpAsync(load.Count + 100);
            var report = await load.StopAsync();
            output.WriteLine(report.Line($"split brain (leader parked at '{position}', SIGSTOP past its lease)", (load.Elapsed - report.FaultAt!.Value).TotalSeconds));
            output.WriteLine($"old leader after release: {old!.ToJsonString()}");

            AssertHeld(report, Bounds.Untouched);
        }
        finally
        {
            failpoints.Delete(recursive: true);
        }
    }

    /// <summary>
    /// Polls one controller's status every 20 ms (finer than <see cref="ServeApp.WaitUntilAsync"/>'s 250 ms, so
    /// the takeover is measured, not rounded up) until it leads, has recovered, and has finished a tick.
    /// </summary>
    private static async Task<(TimeSpan Led, TimeSpan Recovered, TimeSpan FirstTick)> WatchTakeoverAsync(ServeApp app, int instance, long ticksBefore, Stopwatch sinceKill)
    {
        TimeSpan? led = null, recovered = null;
        while (sinceKill.Elapsed < TimeSpan.FromSeconds(20))
        {
            var s = await app.ControllerStatusAsync(instance);
            var at = sinceKill.Elapsed;
            if (s?["is_leader"]?.GetValue<bool>() == true)
            {
                led ??= at;
                if (s["recovered"]!.GetValue<bool>()) recovered ??= at;
                if (recovered is not null && s["ticks"]!.GetValue<long>() > ticksBefore) return (led.Value, recovered.Value, at);
            }
            await Task.Delay(20);
        }
        throw new TimeoutException($"the standby did not lead, recover and tick within 20 s of the kill (led: {led}, recovered: {recovered})");
    }

    /// <summary>Waits until a tick is parked at the failpoint, and checks that it is the leader's.</summary>
    private static async Task WaitHeldAsync(string failpoint, int leaderPid)
    {
        var held = await ServeApp.WaitUntilAsync(async () => File.Exists(failpoint + ".held") ? await File.ReadAllTextAsync(failpoint + ".held") : "",
            text => text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length == 2, TimeSpan.FromSeconds(30), "a tick parked at the failpoint");
        Assert.Equal(leaderPid.ToString(System.Globalization.CultureInfo.InvariantCulture), held.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
    }

    private static async Task<long> RoutesVersionAsync(ServeApp app) =>
        JsonNode.Parse(await app.RedisAsync("GET", "serve:e2e:routes:index"))!["version"]!.GetValue<long>();
}
