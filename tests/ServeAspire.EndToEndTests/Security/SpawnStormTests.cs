using System.Diagnostics;
using ServeAspire.EndToEndTests.Infrastructure;
using Xunit.Abstractions;
using ServeAspire.EndToEndTests.Failures;
using static ServeAspire.EndToEndTests.Failures.FailureScenario;

namespace ServeAspire.EndToEndTests.Security;

/// <summary>
/// A config asking for far more replicas than the machine can hold: accepted up to the cluster cap,
/// placed only up to the nodes' capacity (the rest reported), never more processes than that; then
/// the sample re-applied: back to exactly its replica processes within 60 s, while another
/// application beside it serves under load without a failed request.
/// </summary>
[Trait("Category", "Failover")]
public sealed class SpawnStormTests(ITestOutputHelper output)
{
    private const int PerNode = 6;

    private static string Config(int sleepyReplicas) => FailureScenario.Config("""
              - name: other
                route_prefix: /other
                import_path: Samples:SleepyPid
                deployments:
                  - name: SleepyPid
                    num_replicas: 2
            """, sleepyReplicas);

    [Fact]
    public async Task FarMoreReplicasThanTheNodesHold_ArePlacedUpToCapacity_AndReapplyingTheSampleRecoversWithin60s_WithNoFailedRequestBeside()
    {
        await using var app = await ServeApp.StartAsync([], controllerEnv: null, nodeEnv: new Dictionary<string, string> { ["Node__MaxReplicas"] = PerNode.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        Assert.Equal(200, (await app.PutConfigAsync(Config(6))).Status);
        await RunningAsync(app, 6);
        await RunningAsync(app, 2, "other");
        var nodePids = (await app.GetJsonAsync("/api/nodes"))["nodes"]!.AsArray().Where(n => n!["state"]!.GetValue<string>() == "ALIVE")
            .Select(n => n!["pid"]!.GetValue<int>()).ToHashSet();
        Assert.Equal(3, nodePids.Count);
        Assert.Equal(8, ServeApp.ChildrenOf(nodePids).Count);

        await using var load = Load(app, "/other");
        await load.WarmUpAsync();
        await AssertFlowingAsync(load);

        // The API must keep answering within 2 s throughout (the slowest status call is recorded).
        var slowestApi = TimeSpan.Zero;
        async Task<T> TimedAsync<T>(Func<Task<T>> call)
        {
            var sw = Stopwatch.StartNew();
            var result = await call();
            if (sw.Elapsed > slowestApi) slowestApi = sw.Elapsed;
            return result;
        }

        // The storm: 998 + 2 replicas (exactly the cluster cap of 1,000: accepted) on nodes that hold 6 each.
        load.MarkFault();
        var (status, body) = await app.PutConfigAsync(Config(998));
        Assert.True(status == 200, body);
        var most = 0;
        // Every slot the other app does not hold gets a replica, no more, and the rest is reported.
        var full = await ServeApp.WaitUntilAsync(async () =>
        {
            most = Math.Max(most, ServeApp.ChildrenOf(nodePids).Count);
            return (Status: await TimedAsync(() => app.DeploymentStatusAsync("sleepy", "SleepyPid")), Replicas: (await TimedAsync(() => app.ReplicasAsync())).Count);
        }, s => s.Replicas == 3 * PerNode - 2 && s.Status is { } v && v.Message.Contains("cannot be placed") && v.Message.Contains("are full"),
            TimeSpan.FromSeconds(60), "16 sleepy replicas and the unplaceable ones reported in the status");
        output.WriteLine($"storm: {full.Status!.Value.Message}");
        most = Math.Max(most, ServeApp.ChildrenOf(nodePids).Count);
        Assert.True(most <= 3 * PerNode, $"{most} replica processes at once; the nodes hold {3 * PerNode}");
        Assert.Equal(3 * PerNode - 2, (await app.ReplicasAsync()).Count);

        // Re-apply the sample: exactly its replica processes again, within 60 s.
        var sw = Stopwatch.StartNew();
        Assert.Equal(200, (await TimedAsync(() => app.PutConfigAsync(Config(6)))).Status);
        await ServeApp.WaitUntilAsync(async () =>
        {
            var sleepy = await TimedAsync(() => app.ReplicasAsync());
            var other = await TimedAsync(() => app.ReplicasAsync("other"));
            return (Sleepy: sleepy.Count(r => r.State == "RUNNING"), SleepyAll: sleepy.Count, Other: other.Count(r => r.State == "RUNNING"), Processes: ServeApp.ChildrenOf(nodePids).Count);
        }, s => s is { Sleepy: 6, SleepyAll: 6, Other: 2, Processes: 8 }, TimeSpan.FromSeconds(60), "exactly 6 + 2 replica processes, all RUNNING");
        var seconds = sw.Elapsed.TotalSeconds;
        Assert.NotNull(await app.PidThroughProxyAsync(0));
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        output.WriteLine(report.Line("spawn storm (1,000 replicas asked, 18 slots), then the sample re-applied; load on the other app", seconds));
        output.WriteLine($"slowest data-path requests: {report.Slowest()}");
        AssertHeld(report, new Bounds(1_000, 3_000, "a dozen replica processes cold-start on the same 2 cores as the load"));
        output.WriteLine($"slowest control-plane answer during the storm and the recovery: {slowestApi.TotalMilliseconds:F0} ms");
        Assert.True(slowestApi < TimeSpan.FromSeconds(2), $"the API took {slowestApi.TotalSeconds:F1} s to answer during the storm (promise: within 2 s)");
    }
}
