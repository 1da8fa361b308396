using System.Diagnostics;
using ServeAspire.EndToEndTests.Infrastructure;
using Xunit.Abstractions;

namespace ServeAspire.EndToEndTests.Foundation;

/// <summary>Replicas are OS processes owned by their node: they never outlive it.</summary>
public sealed class NodeProcessTests(ITestOutputHelper output)
{
    [Fact]
    public async Task KillingANodeWithSigkill_EndsItsReplicaProcesses_AndStoppingTheAppLeavesNoReplicaBehind()
    {
        var app = await ServeApp.StartAsync();
        var allPids = new HashSet<int>();
        try
        {
            var replicas = await ServeApp.WaitUntilAsync(() => app.ReplicasAsync(), r => r.Count(x => x.State == "RUNNING") == 6, TimeSpan.FromSeconds(90), "6 RUNNING");
            allPids.UnionWith(replicas.Select(r => r.Pid!.Value));
            var nodes = (await app.GetJsonAsync("/api/nodes"))["nodes"]!.AsArray();
            var node0 = nodes.Single(n => n!["node_id"]!.GetValue<string>() == "node-0")!;
            var nodePid = node0["pid"]!.GetValue<int>();
            // The product's promise for a fresh deployment: an even share on every node it was started with.
            Assert.Equal(new Dictionary<string, int> { ["node-0"] = 2, ["node-1"] = 2, ["node-2"] = 2 }, ServeApp.PerNode(replicas));
            var onNode0 = replicas.Where(r => r.NodeId == "node-0").Select(r => r.Pid!.Value).ToList();

            using (var node = Process.GetProcessById(nodePid)) node.Kill(); // SIGKILL: no chance to clean up
            var sw = Stopwatch.StartNew();
            await ServeApp.WaitUntilAsync(() => Task.FromResult(onNode0.Count(ServeApp.ProcessExists)), n => n == 0, TimeSpan.FromSeconds(10), "node-0's replicas to exit");
            output.WriteLine($"node-0 (pid {nodePid}) killed; its replicas {string.Join(", ", onNode0)} exited within {sw.ElapsedMilliseconds} ms");

            // The controller sees the node go and replaces its replicas (the restart policy brings node-0
            // back as a new process, which may receive some of them).
            var after = await ServeApp.WaitUntilAsync(() => app.ReplicasAsync(), r => r.Count(x => x.State == "RUNNING") == 6 && r.All(x => !onNode0.Contains(x.Pid!.Value)),
                TimeSpan.FromSeconds(60), "6 RUNNING replicas, none of the dead node's");
            allPids.UnionWith(after.Select(r => r.Pid!.Value));
        }
        finally
        {
            await app.DisposeAsync();
        }
        await ServeApp.WaitUntilAsync(() => Task.FromResult(allPids.Where(ServeApp.ProcessExists).ToList()), l => l.Count == 0, TimeSpan.FromSeconds(30), "no replica process left after the app stopped");
    }
}
