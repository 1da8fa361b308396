using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using ServeAspire.EndToEndTests.Infrastructure;
using Xunit.Abstractions;
using static ServeAspire.EndToEndTests.Failures.FailureScenario;

namespace ServeAspire.EndToEndTests.Failures;

/// <summary>
/// The store as production runs it (Serve:Store=sentinel: a primary, two replicas, three Sentinels, every service
/// following the primary the Sentinels name), broken under load: the primary killed, and the whole store down.
/// </summary>
[Trait("Category", "Failover")]
public sealed class StoreFailoverTests(ITestOutputHelper output)
{
    private static Dictionary<string, int> Pids(IEnumerable<ReplicaView> replicas) => replicas.ToDictionary(r => r.ReplicaId, r => r.Pid!.Value);

    /// <summary>A config PUT, retried while the control plane answers 503 (no leader yet, or the write not yet acknowledged by a replica).</summary>
    private static async Task<(int Status, int Attempts, string Body)> PutWithRetryAsync(ServeApp app, string config, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var (status, body) = await app.PutConfigAsync(config);
                if (status != 503 || clock.Elapsed > timeout) return (status, attempt, body);
            }
            catch (HttpRequestException) when (clock.Elapsed < timeout) { }
            await Task.Delay(250);
        }
    }

    /// <summary>
    /// Watches, every 50 ms until disposed, what each controller says of itself (leading, with which token) and which
    /// routing-table version each proxy serves, so the test can judge the whole run, not a few samples.
    /// </summary>
    private sealed class SafetyWatch : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _run;
        public ConcurrentQueue<(TimeSpan At, int Controller, long Token)> Leading { get; } = new();
        public ConcurrentQueue<(TimeSpan At, int Proxy, long Version)> Versions { get; } = new();
        public Stopwatch Clock { get; } = Stopwatch.StartNew();

        public SafetyWatch(ServeApp app)
        {
            _run = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    for (var i = 0; i < 2; i++)
                    {
                        if (await app.ControllerStatusAsync(i) is { } s && s["is_leader"]!.GetValue<bool>())
                            Leading.Enqueue((Clock.Elapsed, i, s["token"]!.GetValue<long>()));
                        if (await app.ProxyRoutingVersionAsync(i) is var v and >= 0) Versions.Enqueue((Clock.Elapsed, i, v));
                    }
                    try { await Task.Delay(50, _stop.Token); } catch (OperationCanceledException) { }
                }
            });
        }

        /// <summary>No token led by two instances; no instance leading on a token older than one already seen leading; per proxy, versions never go back.</summary>
        public void AssertSafe(ITestOutputHelper output)
        {
            var leading = Leading.ToList();
            Assert.True(leading.Count >= 20, $"only {leading.Count} observations of a leader");
            foreach (var g in leading.GroupBy(l => l.Token))
                Assert.True(g.Select(l => l.Controller).Distinct().Count() == 1, $"token {g.Key} was led by controllers {string.Join(", ", g.Select(l => l.Controller).Distinct())}");
            var newest = 0L;
            foreach (var l in leading.OrderBy(l => l.At))
            {
                Assert.True(l.Token >= newest, $"controller-{l.Controller} led on token {l.Token} at {l.At.TotalSeconds:F2} s, after token {newest} had led");
                newest = l.Token;
            }
            var tenures = leading.Select(l => (l.Controller, l.Token)).Distinct().ToList();
            output.WriteLine($"tenures seen leading: {string.Join(" → ", tenures.Select(t => $"controller-{t.Controller} token {t.Token}"))}");
            for (var p = 0; p < 2; p++)
            {
                var seen = Versions.Where(v => v.Proxy == p).OrderBy(v => v.At).ToList();
                Assert.True(seen.Count >= 20, $"only {seen.Count} observations of proxy-{p}'s routing version");
                for (var k = 1; k < seen.Count; k++)
                    Assert.True(seen[k].Version >= seen[k - 1].Version, $"proxy-{p}'s routing version went back from {seen[k - 1].Version} to {seen[k].Version} at {seen[k].At.TotalSeconds:F2} s");
                output.WriteLine($"proxy-{p} routing versions: {string.Join(" → ", seen.Select(v => v.Version).Distinct())}");
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (_stop.IsCancellationRequested) return;
            await _stop.CancelAsync();
            await _run;
        }
    }

    [Fact]
    public async Task SentinelPrimaryKilled_ReplicaPromoted_NoRequestFails_TokensAndRoutingVersionsNeverGoBack_ConfigPutWorks_OldPrimaryRejoinsAsReplica()
    {
        // The old primary is restarted 15 s after its kill: after the Sentinels (down after 1 s) have promoted a replica.
        await using var app = await ServeApp.StartAsync(["Serve:Store=sentinel", "Serve:RestartDelaySeconds=15"]);
        var before = Pids(await RunningAsync(app, 6));
        await app.LeaderAsync(TimeSpan.FromSeconds(30));
        var oldPrimary = await app.PrimaryPortAsync();
        Assert.Equal(ServeApp.RedisPort, oldPrimary); // redis-0 starts as the primary
        var oldPid = await app.StorePidAsync(oldPrimary);
        await using var watch = new SafetyWatch(app);
        await using var load = Load(app);
        await load.WarmUpAsync();
        await AssertFlowingAsync(load);
        var tokenBefore = long.Parse(await app.RedisAsync("GET", "serve:e2e:controller:fencing"), CultureInfo.InvariantCulture);

        load.MarkFault();
        var sinceKill = Stopwatch.StartNew();
        Kill(oldPid);
        var newPrimary = await ServeApp.WaitUntilAsync(app.PrimaryPortAsync, p => p != 0 && p != oldPrimary, TimeSpan.FromSeconds(30), "the Sentinels to promote a replica");
        var promoted = sinceKill.Elapsed;
        var (leader, _) = await app.LeaderAsync(TimeSpan.FromSeconds(30));
        var leading = sinceKill.Elapsed;
        // The promoted replica holds every token handed out before the kill: the counter never goes back.
        var tokenAfter = long.Parse(await app.RedisAsync("GET", "serve:e2e:controller:fencing"), CultureInfo.InvariantCulture);
        var leaderToken = (await app.ControllerStatusAsync(leader))!["token"]!.GetValue<long>();
        var (status, attempts, body) = await PutWithRetryAsync(app, Config().Replace("request_timeout_s: 30", "request_timeout_s: 31"), TimeSpan.FromSeconds(30));
        Assert.True(status == 200, $"the config PUT after the failover answered {status}: {body}");
        var seconds = await SecondsUntilAsync(load, async () =>
            (await app.GetJsonAsync("/api/serve/applications/"))["http_options"]?["request_timeout_s"]?.GetValue<double>() == 31, TimeSpan.FromSeconds(20), "the new config applied");

        // The AppHost restarts the old primary; it comes back as a replica of the new one, in sync.
        var rejoined = await ServeApp.WaitUntilAsync(() => app.RedisAtAsync(oldPrimary, "INFO", "replication"),
            info => info.Contains("role:slave") && info.Contains($"master_port:{newPrimary}") && info.Contains("master_link_status:up"),
            TimeSpan.FromSeconds(60), "the old primary to rejoin as a replica of the new one");
        var rejoinedAfter = sinceKill.Elapsed;
        Assert.NotEqual(oldPid, await app.StorePidAsync(oldPrimary));
        // Its data is the new primary's: the config PUT after the failover included.
        var configNow = await app.RedisAtAsync(newPrimary, "GET", "serve:e2e:config");
        await ServeApp.WaitUntilAsync(() => app.RedisAtAsync(oldPrimary, "GET", "serve:e2e:config"), v => v == configNow, TimeSpan.FromSeconds(10), "the rejoined replica to hold the new config");
        var after = Pids(await RunningAsync(app, 6));
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        await watch.DisposeAsync();

        output.WriteLine(report.Line("store primary kill -9 (Sentinel failover)", seconds));
        output.WriteLine($"replica promoted {promoted.TotalSeconds:F1} s after the kill (port {oldPrimary} → {newPrimary}); a controller led and had recovered at {leading.TotalSeconds:F1} s; "
            + $"PUT succeeded on attempt {attempts}; config applied {seconds:F1} s; old primary rejoined as a replica at {rejoinedAfter.TotalSeconds:F1} s");
        output.WriteLine($"fencing counter: {tokenBefore} before the kill, {tokenAfter} on the promoted replica, new tenure's token {leaderToken}");
        output.WriteLine(rejoined.Split('\n').First(l => l.StartsWith("master_port")).Trim());
        output.WriteLine($"slowest (s after the fault): {string.Join("; ", report.Samples.OrderByDescending(x => x.Ms).Take(8).Select(x => $"{(x.StartedAt - report.FaultAt!.Value).TotalSeconds:F2} s {x.Ms:F0} ms pid {x.Pid}"))}");

        AssertHeld(report, Bounds.Untouched); // proxies serve from their cached table; the data path never touches Redis
        watch.AssertSafe(output);
        Assert.True(tokenAfter >= tokenBefore, $"the promoted replica's fencing counter {tokenAfter} is behind the {tokenBefore} handed out before the kill");
        Assert.True(leaderToken > tokenBefore, $"the leader after the failover leads on token {leaderToken}, not newer than {tokenBefore}");
        Assert.Equal(before, after); // the control plane adopted every replica: same PIDs
    }

    /// <summary>
    /// Issue 36: after a failover, every later start idled. The password is generated afresh each run, and the
    /// Sentinels' rewritten configs kept the first run's as a <c>user default</c> ACL line, which Redis applies after
    /// requirepass: the Sentinels refused the new password, never got healthy, and everything waiting for the store
    /// waited forever. Here: Sentinel mode, the primary killed, everything stopped, then a start on the same state.
    /// </summary>
    [Fact]
    public async Task SentinelStore_AfterAFailover_TheNextStartOnTheSameState_ComesUpConsistent_WithItsData_AndServes()
    {
        var state = Directory.CreateTempSubdirectory("serveaspire-e2e-kept-").FullName;
        try
        {
            string[] args = ["Serve:Store=sentinel", $"Serve:StateDir={state}", "Serve:RestartDelaySeconds=15"];
            int promoted;
            TimeSpan firstStart;
            var marker = Guid.NewGuid().ToString("N");
            await using (var first = await ServeApp.StartAsync(args))
            {
                await RunningAsync(first, 6);
                firstStart = first.SinceStart.Elapsed;
                Assert.Equal(ServeApp.RedisPort, await first.PrimaryPortAsync());
                Kill(await first.StorePidAsync(ServeApp.RedisPort));
                promoted = await ServeApp.WaitUntilAsync(first.PrimaryPortAsync, p => p != 0 && p != ServeApp.RedisPort, TimeSpan.FromSeconds(30), "the Sentinels to promote a replica");
                await ServeApp.WaitUntilAsync(async () => await File.ReadAllTextAsync(Path.Combine(state, "sentinel-0", "sentinel.conf")),
                    c => c.Contains($"sentinel monitor serve 127.0.0.1 {promoted} ", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "sentinel-0 to write the failover to its config");
                // Data written after the failover, on both replicas, must be there after the restart.
                Assert.Equal("OK", await first.RedisAtAsync(promoted, "SET", "serve:e2e:restart-marker", marker));
                await ServeApp.WaitUntilAsync(() => first.RedisAtAsync(promoted, "WAIT", "2", "1000"), n => n == "2", TimeSpan.FromSeconds(30), "both replicas to have the marker");
            }

            // Everything stopped. What the Sentinels wrote last is the store's state (a stop may fail over again: the
            // data nodes stop before the Sentinels); a config epoch of at least 1 says a failover happened.
            var (epoch, primaryAtStop) = await SentinelsLastWordAsync(state);
            Assert.True(epoch >= 1, $"the Sentinels' configs say config-epoch {epoch}: no failover was written");
            // The same state folder, a new run (and a new password).
            await using var second = await ServeApp.StartAsync(args);
            var running = await RunningAsync(second, 6);
            var secondStart = second.SinceStart.Elapsed;
            // Whichever node the Sentinels name is the truth, as for any client: with down-after-milliseconds 1000 a
            // CPU-starved start can fail over once more (seen: the primary at the stop, then another at epoch 2).
            var primary = 0;
            var roles = await ServeApp.WaitUntilAsync(async () =>
            {
                var r = new List<string>();
                for (var i = 0; i < 3; i++)
                    r.Add($"{ServeApp.RedisPort + i}: " + string.Join(' ', (await second.RedisAtAsync(ServeApp.RedisPort + i, "INFO", "replication")).Split('\n')
                        .Where(l => l.StartsWith("role:") || l.StartsWith("master_port:") || l.StartsWith("master_link_status:")).Select(l => l.Trim())));
                for (var j = 0; j < 3; j++)
                    r.Add($"sentinel-{j}: " + (await second.RedisAtAsync(ServeApp.SentinelPort + j, "SENTINEL", "get-master-addr-by-name", "serve")).Replace('\n', ' ').Trim());
                r.Add("epoch " + (await second.RedisAtAsync(ServeApp.SentinelPort, "SENTINEL", "master", "serve")).Split('\n').Select(l => l.Trim())
                    .SkipWhile(l => l != "config-epoch").Skip(1).FirstOrDefault());
                primary = await second.PrimaryPortAsync();
                return r;
            }, r => primary != 0 && r[primary - ServeApp.RedisPort].Contains("role:master") && r.Count(l => l.Contains($"master_port:{primary} master_link_status:up")) == 2
                && r.Skip(3).Take(3).All(l => l.EndsWith($" {primary}")), TimeSpan.FromSeconds(30),
                "the store consistent: every Sentinel naming one primary, a master with the other two as its replicas");
            output.WriteLine(string.Join("; ", roles));
            Assert.Equal(marker, await second.RedisAtAsync(primary, "GET", "serve:e2e:restart-marker")); // nothing written before the stop was lost
            await using var load = Load(second);
            await load.WarmUpAsync();
            await AssertFlowingAsync(load);
            load.MarkFault(); // the window judged: serving on the restarted store
            await load.WarmUpAsync(load.Count + 150);
            var report = await load.StopAsync();
            output.WriteLine(report.Line("start after a Sentinel failover (s = start to 6 RUNNING)", secondStart.TotalSeconds));
            output.WriteLine($"first start to 6 RUNNING {firstStart.TotalSeconds:F1} s; promoted {promoted}; at the stop the Sentinels named {primaryAtStop} (config-epoch {epoch}); " +
                $"the start on that state {secondStart.TotalSeconds:F1} s, primary {primary}");
            Assert.Equal(6, running.Select(r => r.Pid).Distinct().Count());
            AssertHeld(report, Bounds.Untouched);
            Assert.True(secondStart < firstStart + TimeSpan.FromSeconds(30),
                $"the start after the failover took {secondStart.TotalSeconds:F1} s to 6 RUNNING, the first {firstStart.TotalSeconds:F1} s");
        }
        finally { Directory.Delete(state, recursive: true); }
    }

    /// <summary>The primary and config epoch in the Sentinels' own config files (the newest epoch wins), as they wrote them last.</summary>
    private static async Task<(long Epoch, int Port)> SentinelsLastWordAsync(string state)
    {
        var best = (Epoch: -1L, Port: 0);
        for (var j = 0; j < 3; j++)
        {
            long epoch = 0;
            var port = 0;
            foreach (var line in await File.ReadAllLinesAsync(Path.Combine(state, $"sentinel-{j}", "sentinel.conf")))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f is ["sentinel", "config-epoch", "serve", var e]) epoch = long.Parse(e, CultureInfo.InvariantCulture);
                if (f is ["sentinel", "monitor", "serve", _, var p, _]) port = int.Parse(p, CultureInfo.InvariantCulture);
            }
            if (epoch > best.Epoch) best = (epoch, port);
        }
        return best;
    }

    [Fact]
    public async Task SentinelStoreDown30s_AllThreeDataNodesKilled_ServingGoesOn_ControlPlaneResumes_NoReplicaRestarted()
    {
        await using var app = await ServeApp.StartAsync(["Serve:Store=sentinel", "Serve:RestartDelaySeconds=30"]);
        var before = Pids(await RunningAsync(app, 6));
        await app.LeaderAsync(TimeSpan.FromSeconds(30));
        var ports = Enumerable.Range(0, 3).Select(i => ServeApp.RedisPort + i).ToList();
        var pids = new List<int>();
        foreach (var port in ports) pids.Add(await app.StorePidAsync(port));
        Assert.DoesNotContain(0, pids);
        await using var watch = new SafetyWatch(app);
        await using var load = Load(app);
        await load.WarmUpAsync();
        await AssertFlowingAsync(load);

        load.MarkFault();
        foreach (var pid in pids) Kill(pid);
        await ServeApp.WaitUntilAsync(async () => await app.PrimaryPortAsync() is var p and > 0 && await app.RedisAtAsync(p, "PING") == "PONG",
            ok => ok, TimeSpan.FromSeconds(90), "the store back (a primary the Sentinels name answering)");
        var down = (load.Elapsed - load.FaultAt).TotalSeconds;
        await app.LeaderAsync(TimeSpan.FromSeconds(30));
        var (status, attempts, body) = await PutWithRetryAsync(app, Config().Replace("request_timeout_s: 30", "request_timeout_s: 31"), TimeSpan.FromSeconds(30));
        Assert.True(status == 200, $"the config PUT after the outage answered {status}: {body}");
        var seconds = await SecondsUntilAsync(load, async () =>
            (await app.GetJsonAsync("/api/serve/applications/"))["http_options"]?["request_timeout_s"]?.GetValue<double>() == 31, TimeSpan.FromSeconds(30), "the new config applied");
        var after = Pids(await RunningAsync(app, 6));
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        await watch.DisposeAsync();
        output.WriteLine(report.Line("whole store down 30 s (3 data nodes kill -9, Sentinel)", seconds));
        output.WriteLine($"store down {down:F1} s; PUT succeeded on attempt {attempts}; config applied {seconds:F1} s after the kill");

        AssertHeld(report, Bounds.Untouched);
        watch.AssertSafe(output);
        Assert.True(down >= 30, $"the store was back after {down:F1} s, before the 30 s restart delay");
        Assert.Equal(before, after); // no replica restarted by the outage
    }
}
