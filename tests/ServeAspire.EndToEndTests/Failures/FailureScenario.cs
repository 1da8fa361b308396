using System.Diagnostics;
using System.Text.Json.Nodes;
using ServeAspire.EndToEndTests.Infrastructure;

namespace ServeAspire.EndToEndTests.Failures;

/// <summary>Shared shape of a failure test: open-loop load, preconditions, fault, wait for full strength, numbers.</summary>
internal static class FailureScenario
{
    /// <summary>The load every failure test runs under (issue: at least 50 req/s).</summary>
    public const int RequestsPerSecond = 100;

    /// <summary>
    /// Each request works this long in the replica, so that at 100 req/s about five are always in flight:
    /// a fault then always strikes requests mid-way (asserted), not an idle system.
    /// </summary>
    public const int WorkMs = 50;

    public static string Config(string extraApps = "", int sleepyReplicas = 6) => $$"""
        http_options: { request_timeout_s: 30 }
        applications:
          - name: sleepy
            route_prefix: /
            import_path: Samples:SleepyPid
            {{ServeApp.QuickSleepyEnv}}
            deployments:
              - name: SleepyPid
                num_replicas: {{sleepyReplicas}}
        {{extraApps}}
        """;

    /// <summary>Open-loop load over both proxies on <paramref name="path"/> (each call working <see cref="WorkMs"/>).</summary>
    public static LoadGenerator Load(ServeApp app, string path = "/") => Load([app.Proxy(0), app.Proxy(1)], path);

    public static LoadGenerator Load(IEnumerable<Uri> proxies, string path = "/") =>
        new([.. proxies.Select(p => new Uri(p, $"{path}?ms={WorkMs}"))], RequestsPerSecond);

    /// <summary>
    /// The latency a scenario promises during its fault window (from the fault to full strength): a stall
    /// of the data path breaks it even when no request fails. <paramref name="Why"/> says where the
    /// figures come from.
    /// </summary>
    public sealed record Bounds(double P99Ms, double MaxMs, string Why)
    {
        /// <summary>Nothing replayed, nothing slow: the path the load takes never loses its replicas' answers.</summary>
        public static Bounds Untouched { get; } = new(500, 2_000, "no request needs a replay");
        /// <summary>Requests in flight on a killed process are replayed on another replica (GETs are idempotent).</summary>
        public static Bounds Replayed { get; } = new(500, 2_000, "in-flight requests replayed once on another replica");
    }

    /// <summary>
    /// Asserts the run's numbers: real load, the fault struck requests in flight, zero failures, and the
    /// scenario's latency bounds over the fault window.
    /// </summary>
    public static void AssertHeld(LoadReport report, Bounds bounds)
    {
        Assert.True(report.FaultAt is not null, "the test never marked its fault");
        // The load's own schedule first: if the test process stalled, the latencies below would blame the system for it.
        Assert.True(report.MaxLagMs <= 200, $"the load generator fell {report.MaxLagMs:F0} ms behind its schedule: the test process stalled ({report.Harness})");
        Assert.True(report.RequestsPerSecond >= 50, $"load was {report.RequestsPerSecond:F0} req/s, below 50");
        Assert.True(report.InFlightAtFault >= 1, "no request was in flight when the fault struck: it hit an idle system");
        Assert.True(report.Failed == 0, $"{report.Failed} of {report.Sent} requests failed: {report.FailureSummary}");
        Assert.True(report.DuringFault.Count >= 50, $"only {report.DuringFault.Count} requests overlapped the fault window");
        Assert.True(report.P99MsDuringFault <= bounds.P99Ms,
            $"p99 during the fault was {report.P99MsDuringFault:F0} ms (bound {bounds.P99Ms} ms: {bounds.Why}); slowest: {report.Slowest()}; {report.Harness}");
        Assert.True(report.MaxMsDuringFault <= bounds.MaxMs,
            $"slowest request during the fault took {report.MaxMsDuringFault:F0} ms (bound {bounds.MaxMs} ms: {bounds.Why}); slowest: {report.Slowest()}; {report.Harness}");
    }

    /// <summary>
    /// Precondition of every fault: the load flows. Waits (at most 30 s: fresh processes answer their first
    /// requests slowly while they JIT) until nearly every request started in a recent second (0.5 to 1.5 s ago)
    /// has been answered; fails if any request failed before the fault.
    /// </summary>
    public static async Task AssertFlowingAsync(LoadGenerator load)
    {
        await ServeApp.WaitUntilAsync(() =>
        {
            var now = load.Elapsed;
            var done = load.Completed();
            Assert.True(done.All(s => s.Ok), $"requests failed before the fault: {string.Join("; ", done.Where(s => !s.Ok).Select(s => s.Error).Distinct().Take(3))}");
            return Task.FromResult(done.Count(s => s.Ok && s.StartedAt >= now - TimeSpan.FromSeconds(1.5) && s.StartedAt < now - TimeSpan.FromSeconds(0.5)));
        }, answered => answered >= RequestsPerSecond * 9 / 10, TimeSpan.FromSeconds(30), $"{RequestsPerSecond * 9 / 10} requests answered in a second before the fault");
    }

    /// <summary>Waits for full strength, marks the end of the fault window, returns seconds since the fault.</summary>
    public static async Task<double> SecondsUntilAsync(LoadGenerator load, Func<Task<bool>> fullStrength, TimeSpan timeout, string what)
    {
        await ServeApp.WaitUntilAsync(fullStrength, ok => ok, timeout, what);
        load.MarkRecovered();
        return (load.Elapsed - load.FaultAt).TotalSeconds;
    }

    public static Task<IReadOnlyList<ReplicaView>> RunningAsync(ServeApp app, int count, string application = "sleepy", string deployment = "SleepyPid") =>
        ServeApp.WaitUntilAsync(() => app.ReplicasAsync(application, deployment), r => r.Count(x => x.State == "RUNNING") == count,
            TimeSpan.FromSeconds(90), $"{count} RUNNING {deployment} replicas");

    /// <summary>
    /// The moment (on the load's clock) both proxies route with a table that no longer holds
    /// <paramref name="replicaId"/>: the newest table in the store without it, and each proxy's
    /// <c>/-/routes</c> answered by that version or a later one. A request started after this moment cannot
    /// be sent to the replica.
    /// </summary>
    public static async Task<TimeSpan> OutOfBothProxiesAsync(ServeApp app, LoadGenerator load, string replicaId, TimeSpan timeout)
    {
        var version = await ServeApp.WaitUntilAsync(async () =>
        {
            // The index and the entries are written in one step; reading the index on both sides of
            // the entries tells whether they belong to the same version (else look again).
            var before = JsonNode.Parse(await app.RedisAsync("GET", "serve:e2e:routes:index"))!["version"]!.GetValue<long>();
            var entries = (await app.RedisAsync("HVALS", "serve:e2e:routes:entries")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var after = JsonNode.Parse(await app.RedisAsync("GET", "serve:e2e:routes:index"))!["version"]!.GetValue<long>();
            var holds = entries.Any(e => JsonNode.Parse(e)!["replicas"]!.AsArray().Any(x => x!["replica_id"]!.GetValue<string>() == replicaId));
            return holds || before != after ? -1 : after;
        }, v => v > 0, timeout, $"a routing table without {replicaId}");
        for (var i = 0; i < 2; i++)
        {
            var proxy = i;
            await ServeApp.WaitUntilAsync(() => app.ProxyRoutingVersionAsync(proxy), v => v >= version, timeout, $"proxy-{proxy} on routing table v{version}");
        }
        return load.Elapsed;
    }

    /// <summary>Polls <paramref name="probe"/> over a whole window; fails at the first observation that breaks <paramref name="holds"/>.</summary>
    public static async Task HoldsForAsync<T>(Func<Task<T>> probe, Func<T, bool> holds, TimeSpan window, string what)
    {
        var clock = Stopwatch.StartNew();
        var observations = 0;
        while (clock.Elapsed < window)
        {
            var value = await probe();
            observations++;
            Assert.True(holds(value), $"{what} stopped holding after {clock.Elapsed.TotalSeconds:F1} s (observation {observations}): {value}");
            await Task.Delay(200);
        }
        Assert.True(observations >= 5, $"{what}: only {observations} observations in the window");
    }

    public static void Kill(int pid)
    {
        using var p = Process.GetProcessById(pid);
        p.Kill(); // SIGKILL
    }
}
