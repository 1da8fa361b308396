using System.Net;
using System.Text.Json.Nodes;
using ServeAspire.EndToEndTests.Infrastructure;
using Xunit.Abstractions;

namespace ServeAspire.EndToEndTests.Foundation;

/// <summary>The seed's tour against one running system: proxies, replicas, actors, routes, bad input.</summary>
[Collection(SharedServeAppCollection.Name)]
public sealed class SharedAppTests(SharedServeApp fixture, ITestOutputHelper output)
{
    private ServeApp App => fixture.App;

    private Task<IReadOnlyList<ReplicaView>> SixRunningAsync() => ServeApp.WaitUntilAsync(
        () => App.ReplicasAsync(), r => r.Count(x => x.State == "RUNNING") == 6, TimeSpan.FromSeconds(60), "6 RUNNING SleepyPid replicas");

    [Fact]
    public async Task BothProxies_AnswerPids_FromSixDistinctReplicas_Within60s()
    {
        Assert.True(fixture.TimeToSixPids is { } t && t <= TimeSpan.FromSeconds(60),
            $"6 distinct PIDs took {fixture.TimeToSixPids?.TotalSeconds.ToString("F1") ?? "more than 120"} s from AppHost start (limit 60 s)");
        output.WriteLine($"6 distinct PIDs {fixture.TimeToSixPids!.Value.TotalSeconds:F1} s after AppHost start (SleepyPid's constructor alone takes 10 s)");
        var seen = (await SixRunningAsync()).Select(r => r.Pid!.Value).ToHashSet();

        // Each proxy on its own reaches several replicas (not all traffic to one).
        foreach (var proxy in new[] { 0, 1 })
        {
            var fromProxy = new HashSet<int>();
            for (var i = 0; i < 30; i++) fromProxy.Add((await App.PidThroughProxyAsync(proxy))!.Value);
            Assert.True(fromProxy.Count >= 3, $"proxy-{proxy} reached only {fromProxy.Count} replicas");
            Assert.Subset(seen, fromProxy);
        }
    }

    /// <summary>
    /// Tracing is parent-based end to end: the replica continues the proxy's trace and keeps the
    /// caller's decision; a new trace is sampled by the proxy's allowance (5 a second by default,
    /// then 1 %), so a stream of requests has both sampled and unsampled ones, and few sampled.
    /// </summary>
    [Fact]
    public async Task Proxy_PropagatesTheTrace_ToTheReplica_AndSamplesNewTracesByItsAllowance()
    {
        await SixRunningAsync();
        // No propagator of our own: the only traceparent is the one a test sets.
        using var client = new HttpClient(new SocketsHttpHandler { ActivityHeadersPropagator = null, UseProxy = false });
        async Task<string> ReplicaSawAsync(string? traceparent)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(App.Proxy(0), "/?header=traceparent"));
            if (traceparent is not null) request.Headers.Add("traceparent", traceparent);
            using var response = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return await response.Content.ReadAsStringAsync();
        }

        foreach (var flags in new[] { "01", "00" })
        {
            var traceId = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
            const string callerSpan = "00f067aa0ba902b7";
            var seen = await ReplicaSawAsync($"00-{traceId}-{callerSpan}-{flags}");
            output.WriteLine($"caller flags {flags}: the replica saw {seen}");
            var parts = seen.Split('-');
            Assert.Equal(4, parts.Length);
            Assert.Equal(traceId, parts[1]);        // the same trace
            Assert.NotEqual(callerSpan, parts[2]);  // under the proxy's own span
            Assert.Equal(flags, parts[3]);          // the caller's decision kept
        }

        // At least 100 new traces, one after another (a few ms each), and on until both kinds were seen: the
        // allowance refills every second, so other traffic that used up this second's share cannot make this miss.
        var burst = new List<string>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (burst.Count < 2_000 && clock.Elapsed < TimeSpan.FromSeconds(10) && (burst.Count < 100 ||
               !(burst.Any(t => t.EndsWith("-01", StringComparison.Ordinal)) && burst.Any(t => t.EndsWith("-00", StringComparison.Ordinal)))))
            burst.Add(await ReplicaSawAsync(null));
        var elapsed = clock.Elapsed;
        Assert.All(burst, t => Assert.Matches("^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$", t));
        var sampled = burst.Count(t => t.EndsWith("-01", StringComparison.Ordinal));
        output.WriteLine($"{burst.Count} new traces in {elapsed.TotalMilliseconds:F0} ms, {sampled} sampled");
        Assert.InRange(sampled, 1, burst.Count - 1);
        // …and never more than the allowance: 5 in each second touched, plus 1 % of the rest (with slack).
        Assert.True(sampled <= 5 * ((int)elapsed.TotalSeconds + 2) + burst.Count / 50 + 3, $"{sampled} of {burst.Count} sampled in {elapsed}");
    }

    [Fact]
    public async Task AnsweringPids_AreExactlyTheRunningReplicasPids()
    {
        var replicas = await SixRunningAsync();
        var pids = new HashSet<int>();
        await ServeApp.WaitUntilAsync(async () =>
        {
            for (var i = 0; i < 12; i++) pids.Add((await App.PidThroughProxyAsync(i % 2))!.Value);
            return pids.Count;
        }, n => n == 6, TimeSpan.FromSeconds(30), "all 6 replicas answering");
        Assert.Equal(replicas.Select(r => r.Pid!.Value).Order(), pids.Order());
    }

    [Fact]
    public async Task Replicas_AreSpreadTwoPerNode()
    {
        var replicas = await SixRunningAsync();
        // Whichever node registered first, a fresh deployment is spread evenly over all three.
        Assert.Equal(new Dictionary<string, int> { ["node-0"] = 2, ["node-1"] = 2, ["node-2"] = 2 }, ServeApp.PerNode(replicas));
    }

    [Fact]
    public async Task Actors_ListTheControllerBothProxiesAndSixAliveReplicas_WithThePidsTheReplicasAnswer()
    {
        await SixRunningAsync();
        var actors = await App.ActorsAsync("?state=ALIVE");
        var controller = Assert.Single(actors, a => a!["class_name"]!.GetValue<string>() == "ServeController");
        Assert.Equal("SERVE_CONTROLLER_ACTOR", controller!["name"]!.GetValue<string>());
        Assert.True(controller["pid"]!.GetValue<int>() > 0);

        var proxies = actors.Where(a => a!["class_name"]!.GetValue<string>() == "ProxyActor").ToList();
        Assert.Equal(["SERVE_PROXY_ACTOR-proxy-0", "SERVE_PROXY_ACTOR-proxy-1"], proxies.Select(p => p!["name"]!.GetValue<string>()).Order());
        Assert.All(proxies, p => Assert.True(ServeApp.ProcessExists(p!["pid"]!.GetValue<int>())));

        var replicas = await App.ActorsAsync("?class_name=ServeReplica:SleepyPid&state=ALIVE");
        Assert.Equal(6, replicas.Count);
        Assert.All(replicas, r => Assert.Matches(@"^SERVE_REPLICA::SleepyPid#[a-z0-9]{8}$", r!["name"]!.GetValue<string>()));
        var actorPids = replicas.Select(r => r!["pid"]!.GetValue<int>()).ToHashSet();

        var answered = new HashSet<int>();
        await ServeApp.WaitUntilAsync(async () =>
        {
            for (var i = 0; i < 12; i++) answered.Add((await App.PidThroughProxyAsync(i % 2))!.Value);
            return answered.Count;
        }, n => n == 6, TimeSpan.FromSeconds(30), "every replica answering");
        Assert.Equal(actorPids.Order(), answered.Order());
        Assert.All(actorPids, pid => Assert.True(ServeApp.ProcessExists(pid), $"replica pid {pid} is not a live process"));
    }

    [Fact]
    public async Task Actors_RejectUnknownFilters()
    {
        using var response = await App.Http.GetAsync(new Uri(App.Controller, "/api/actors?colour=red"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("unknown filter 'colour'", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Healthz_AnswersSuccess_AndRoutes_AnswerTheRouteTable()
    {
        foreach (var proxy in new[] { 0, 1 })
        {
            await ServeApp.WaitUntilAsync(() => App.Http.GetAsync(new Uri(App.Proxy(proxy), "/-/healthz")), r => r.StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(30), $"proxy-{proxy} healthy");
            Assert.Equal("success", await App.Http.GetStringAsync(new Uri(App.Proxy(proxy), "/-/healthz")));
            var routes = JsonNode.Parse(await App.Http.GetStringAsync(new Uri(App.Proxy(proxy), "/-/routes")))!.AsObject();
            Assert.Equal("""{"/":"sleepy"}""", routes.ToJsonString());
        }
    }

    [Fact]
    public async Task Applications_ShowTheRunningApplicationLikeRay()
    {
        await SixRunningAsync();
        var details = await App.GetJsonAsync("/api/serve/applications/");
        Assert.Equal("MULTI_APP", details["deploy_mode"]!.GetValue<string>());
        var app = details["applications"]!["sleepy"]!;
        Assert.Equal("RUNNING", app["status"]!.GetValue<string>());
        Assert.Equal("Samples:SleepyPid", app["deployed_app_config"]!["import_path"]!.GetValue<string>());
        var dep = app["deployments"]!["SleepyPid"]!;
        Assert.Equal("HEALTHY", dep["status"]!.GetValue<string>());
        Assert.Equal(6, dep["target_num_replicas"]!.GetValue<int>());
        Assert.Equal(5, dep["deployment_config"]!["max_ongoing_requests"]!.GetValue<int>());
        Assert.Equal(2, details["proxies"]!.AsObject().Count);
    }

    [Theory]
    [InlineData("applications: [ {name: x", "", "invalid YAML")]
    [InlineData("applications:\n  - name: sleepy\n    import_path: Samples:SleepyPid\n    deployments:\n      - name: SleepyPid\n        num_replica: 3", "applications[0].deployments[0].num_replica", "did you mean 'num_replicas'")]
    [InlineData("applications:\n  - name: sleepy\n    import_path: Samples:SleepyPid\n    deployments:\n      - name: SleepyPid\n        num_replicas: -1", "applications[0].deployments[0].num_replicas", "greater than 0")]
    [InlineData("applications:\n  - name: sleepy\n    import_path: Samples:NoSuchClass", "applications[0].import_path", "no public type 'NoSuchClass'")]
    [InlineData("applications:\n  - {name: a, route_prefix: /a, import_path: 'Samples:SleepyPid'}\n  - {name: a, route_prefix: /b, import_path: 'Samples:SleepyPid'}", "applications", "Found multiple configs for application \"a\"")]
    [InlineData("applications:\n  - {name: a, route_prefix: /a, import_path: 'Samples:SleepyPid'}\n  - {name: b, route_prefix: /a, import_path: 'Samples:SleepyPid'}", "applications", "Found duplicate applications for route prefix \"/a\"")]
    [InlineData("applications:\n  - {name: a, route_prefix: a, import_path: 'Samples:SleepyPid'}", "applications[0].route_prefix", "must start with '/'")]
    [InlineData("{\"not_a_real_field\": 1}", "applications", "field required")]
    public async Task BadConfig_IsRejectedWith400NamingTheField_AndTheRunningConfigKeepsServing(string config, string loc, string message)
    {
        var before = await SixRunningAsync();
        var configBefore = (await App.GetJsonAsync("/api/serve/applications/"))["applications"]!.ToJsonString();

        var (status, body) = await App.PutConfigAsync(config);
        Assert.Equal(400, status);
        var error = JsonNode.Parse(body)!;
        Assert.Contains("validation error", error["error"]!.GetValue<string>());
        Assert.Contains(error["errors"]!.AsArray(), e => e!["loc"]!.GetValue<string>() == loc && e["msg"]!.GetValue<string>().Contains(message));

        // Nothing changed: same applications, same replicas, and they still answer.
        var after = await App.ReplicasAsync();
        Assert.Equal(before.Select(r => r.ReplicaId).Order(), after.Select(r => r.ReplicaId).Order());
        Assert.Equal(configBefore, (await App.GetJsonAsync("/api/serve/applications/"))["applications"]!.ToJsonString());
        var pid = await App.PidThroughProxyAsync(0);
        Assert.Contains(pid!.Value, before.Select(r => r.Pid!.Value));
    }

    [Fact]
    public async Task RayOnlyKeys_AreAcceptedAndReportedAsIgnored_WithoutChangingWhatRuns()
    {
        var before = await SixRunningAsync();
        var (leader, _) = await App.LeaderAsync(TimeSpan.FromSeconds(30));
        var (status, body) = await App.PutConfigAsync(File.ReadAllText(Path.Combine(RepoRoot(), "samples", "serve.yaml")).Replace(
            "    import_path: Samples:SleepyPid", "    import_path: Samples:SleepyPid\n    runtime_env: { pip: [torch] }"));
        Assert.Equal(200, status);
        Assert.Contains("applications[0].runtime_env.pip", JsonNode.Parse(body)!["ignored"]!.AsArray().Select(n => n!.GetValue<string>()));
        // Two whole ticks after the PUT, so the controller has acted on it (a change would show by then).
        var ticks = (await App.ControllerStatusAsync(leader))!["ticks"]!.GetValue<long>();
        await ServeApp.WaitUntilAsync(() => App.ControllerStatusAsync(leader), s => s?["ticks"]?.GetValue<long>() >= ticks + 2, TimeSpan.FromSeconds(30), "two control-loop ticks after the PUT");
        var after = await App.ReplicasAsync();
        Assert.Equal(before.Select(r => (r.ReplicaId, r.Pid, r.State)).Order(), after.Select(r => (r.ReplicaId, r.Pid, r.State)).Order());
        // Put the seed config back exactly, for the other tests.
        Assert.Equal(200, (await App.PutConfigAsync(File.ReadAllText(Path.Combine(RepoRoot(), "samples", "serve.yaml")))).Status);
    }

    internal static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ServeAspire.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repo root not found");
    }
}
