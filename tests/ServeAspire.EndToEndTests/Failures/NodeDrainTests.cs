using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;
using ServeAspire.EndToEndTests.Infrastructure;
using Xunit.Abstractions;
using static ServeAspire.EndToEndTests.Failures.FailureScenario;

namespace ServeAspire.EndToEndTests.Failures;

/// <summary>A node stopped on purpose (dashboard "Stop" = SIGTERM) drains, and the restart policy leaves it stopped.</summary>
[Trait("Category", "Failover")]
public sealed class NodeDrainTests(ITestOutputHelper output)
{
    [Fact]
    public async Task NodeStoppedOnPurpose_DrainsItsReplicasWithoutFailedRequests_AndStaysStoppedUntilStarted()
    {
        await using var app = await ServeApp.StartAsync();
        var before = await RunningAsync(app, 6);
        var drained = before.Where(r => r.NodeId == "node-2").Select(r => r.Pid!.Value).ToList();
        Assert.True(drained.Count >= 1, $"node-2 holds no replica: the test would check nothing ({string.Join(", ", before.Select(r => r.NodeId))})");
        var commands = app.Aspire.Services.GetRequiredService<ResourceCommandService>();
        var node2 = app.Aspire.Services.GetRequiredService<DistributedApplicationModel>().Resources.Single(r => r.Name == "node-2");
        await using var load = Load(app);
        await load.WarmUpAsync();
        await AssertFlowingAsync(load);
        Assert.Contains(load.Completed(), s => drained.Contains(s.Pid ?? 0)); // the node's replicas serve

        load.MarkFault();
        var stop = await commands.ExecuteCommandAsync(node2, "stop");
        Assert.True(stop.Success, stop.Message);
        var seconds = await SecondsUntilAsync(load, async () =>
        {
            var r = await app.ReplicasAsync();
            return r.Count(x => x.State == "RUNNING") == 6 && r.All(x => x.NodeId != "node-2");
        }, TimeSpan.FromSeconds(60), "6 RUNNING on node-0 and node-1");
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        output.WriteLine(report.Line("node stopped on purpose (SIGTERM drain)", seconds));
        output.WriteLine($"slowest: {report.Slowest()}");

        AssertHeld(report, Bounds.Untouched); // a drain lets requests finish: nothing to replay
        Assert.All(drained, pid => Assert.False(ServeApp.ProcessExists(pid), $"replica {pid} of the stopped node still runs"));
        var dead = await app.ActorsAsync("?state=DEAD");
        Assert.All(drained, pid => Assert.True(dead.Any(a => a!["pid"]!.GetValue<int>() == pid && a["death_cause"]!.GetValue<string>().Contains("node-2 is draining")),
            $"replica {pid} is not listed DEAD with 'node-2 is draining': {dead.ToJsonString()}"));

        // The absence of a restart, observed over 5 × the 1 s restart delay.
        await HoldsForAsync(async () => (await app.Aspire.ResourceNotifications.WaitForResourceAsync(node2.Name, _ => true)).Snapshot.State?.Text,
            state => state is "Exited" or "Finished", TimeSpan.FromSeconds(5), "node-2 stopped on purpose stays stopped");

        var start = await commands.ExecuteCommandAsync(node2, "start");
        Assert.True(start.Success, start.Message);
        await ServeApp.WaitUntilAsync(() => app.GetJsonAsync("/api/nodes"), n => n["nodes"]!.AsArray().Any(x => x!["node_id"]!.GetValue<string>() == "node-2" && x["state"]!.GetValue<string>() == "ALIVE"),
            TimeSpan.FromSeconds(30), "node-2 back after an explicit start");
    }
}
