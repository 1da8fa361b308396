using System.Diagnostics;
using ServeAspire.EndToEndTests.Infrastructure;
using Xunit.Abstractions;

namespace ServeAspire.EndToEndTests.Foundation;

/// <summary>A fresh deployment's first placement waits, bounded, for the node set to settle.</summary>
public sealed class PlacementTests(ITestOutputHelper output)
{
    [Fact]
    public async Task ANodeThatNeverRegisters_HoldsTheFirstPlacementOnlyUntilTheBound_ThenTheLiveNodesShareItEvenly()
    {
        // The controllers expect 4 nodes; the AppHost starts 3, so one never registers (a dead node).
        var bound = TimeSpan.FromSeconds(40);
        await using var app = await ServeApp.StartAsync(["Serve:ApplyConfigOnStart=false"], new Dictionary<string, string>
        {
            ["Controller__ExpectedNodes"] = "4",
            ["Controller__NodeSettleTimeout"] = bound.ToString("c"),
        });
        await app.LeaderAsync(TimeSpan.FromSeconds(30));
        var nodes = await ServeApp.WaitUntilAsync(async () => (await app.GetJsonAsync("/api/nodes"))["nodes"]!.AsArray()
                .Where(n => n!["state"]!.GetValue<string>() == "ALIVE").Select(n => n!["node_id"]!.GetValue<string>()).Order().ToList(),
            n => n.Count == 3, TimeSpan.FromSeconds(30), "3 live nodes");
        Assert.Equal(["node-0", "node-1", "node-2"], nodes);

        var sample = File.ReadAllText(Path.Combine(SharedAppTests.RepoRoot(), "samples", "serve.yaml"));
        var sw = Stopwatch.StartNew();
        Assert.Equal(200, (await app.PutConfigAsync(sample)).Status);

        // While held, the deployment says why and nothing is placed.
        var held = await ServeApp.WaitUntilAsync(() => app.DeploymentStatusAsync("sleepy", "SleepyPid"),
            s => s is { } v && v.Message.Contains("waiting for nodes to register: 3 of 4 live"), TimeSpan.FromSeconds(15), "the hold reported in the deployment's status");
        Assert.Equal("UPDATING", held!.Value.Status);
        Assert.Empty(await app.ReplicasAsync());
        output.WriteLine($"held {sw.Elapsed.TotalSeconds:F1} s after the PUT: {held.Value.Message}");

        // After the bound the three live nodes get two replicas each, and they serve.
        var replicas = await ServeApp.WaitUntilAsync(() => app.ReplicasAsync(), r => r.Count(x => x.State == "RUNNING") == 6,
            bound + TimeSpan.FromSeconds(60), "6 RUNNING replicas after the bound");
        Assert.Equal(new Dictionary<string, int> { ["node-0"] = 2, ["node-1"] = 2, ["node-2"] = 2 }, ServeApp.PerNode(replicas));
        Assert.Contains((await app.PidThroughProxyAsync(0))!.Value, replicas.Select(r => r.Pid!.Value));
        output.WriteLine($"6 RUNNING 2/2/2 {sw.Elapsed.TotalSeconds:F1} s after the PUT (bound: {bound.TotalSeconds} s from the start of the leader's tenure)");
    }
}
