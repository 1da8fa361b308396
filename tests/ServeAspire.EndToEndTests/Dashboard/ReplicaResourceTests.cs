using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;
using ServeAspire.EndToEndTests.Infrastructure;
using Xunit.Abstractions;
using static ServeAspire.EndToEndTests.Failures.FailureScenario;

namespace ServeAspire.EndToEndTests.Dashboard;

/// <summary>
/// The replicas as dashboard resources (what the dashboard receives: ResourceNotificationService's stream)
/// and the failure drills run as dashboard commands (ResourceCommandService, as the dashboard's buttons do).
/// </summary>
[Trait("Category", "Dashboard")]
public sealed class ReplicaResourceTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task EveryReplica_IsARunningResourceUnderItsNode_WithTheControllersIdPidDeploymentAndApplication()
    {
        await using var app = await ServeApp.StartAsync();
        await using var watcher = new ResourceWatcher(app.Aspire);
        var replicas = await RunningAsync(app, 6);

        var shown = await ServeApp.WaitUntilAsync(() => Task.FromResult(watcher.Replicas.Where(r => r.State == "Running").ToList()),
            r => r.Select(x => x.ReplicaId).Order().SequenceEqual(replicas.Select(x => x.ReplicaId).Order()), Timeout, "the 6 replicas as Running resources");

        var nodeIds = watcher.All.Where(e => e.Resource.Name.StartsWith("node-", StringComparison.Ordinal)).ToDictionary(e => e.Resource.Name, e => e.ResourceId);
        foreach (var replica in replicas)
        {
            var resource = shown.Single(r => r.ReplicaId == replica.ReplicaId);
            Assert.Equal($"SleepyPid-{replica.ReplicaId}", resource.ResourceId);
            Assert.Equal(replica.Pid, resource.Pid);
            Assert.Equal(replica.NodeId, resource.NodeId);
            Assert.Equal(nodeIds[replica.NodeId], resource.ParentName); // nested under the node's row
            Assert.Equal(("SleepyPid", "sleepy", "0"), (resource.Deployment, resource.Application, resource.Restarts));
        }
        var cluster = await app.Aspire.ResourceNotifications.WaitForResourceAsync("serve", e => ResourceWatcher.Prop(e, "serve.applications")?.Contains("SleepyPid HEALTHY 6/6") == true);
        Assert.Equal("Running", cluster.Snapshot.State?.Text);
    }

    [Fact]
    public async Task KillNodeDrill_ItsReplicasShowExitedUnderIt_ReplacementsRunElsewhere_NoRequestFails_AndTheNodeShowsOneRestart()
    {
        await using var app = await ServeApp.StartAsync();
        await using var watcher = new ResourceWatcher(app.Aspire);
        var before = await RunningAsync(app, 6);
        var orphans = before.Where(r => r.NodeId == "node-1").ToList();
        Assert.True(orphans.Count >= 1, $"node-1 holds no replica: the drill would check nothing ({string.Join(", ", before.Select(r => r.NodeId))})");
        await ServeApp.WaitUntilAsync(() => Task.FromResult(watcher.Replicas.Count(r => r.State == "Running")), n => n == 6, Timeout, "6 Running replica resources");
        var commands = app.Aspire.Services.GetRequiredService<ResourceCommandService>();
        var nodeLog = new List<string>();
        var node1 = watcher.All.Single(e => e.Resource.Name == "node-1").ResourceId;
        using var stopLog = new CancellationTokenSource();
        var logTask = Task.Run(async () =>
        {
            try
            {
                await foreach (var batch in app.Aspire.Services.GetRequiredService<ResourceLoggerService>().WatchAsync(node1).WithCancellation(stopLog.Token))
                    lock (nodeLog) nodeLog.AddRange(batch.Select(l => l.Content));
            }
            catch (OperationCanceledException) { }
        });
        await using var load = Load(app);
        await load.WarmUpAsync();
        await AssertFlowingAsync(load);

        load.MarkFault();
        var result = await commands.ExecuteCommandAsync(node1, "kill-node");
        Assert.True(result.Success, result.Message);
        var seconds = await SecondsUntilAsync(load, async () =>
        {
            var r = await app.ReplicasAsync();
            return r.Count(x => x.State == "RUNNING") == 6 && r.All(x => orphans.All(o => o.ReplicaId != x.ReplicaId));
        }, Timeout, "6 RUNNING replicas, none of node-1's old ones");
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        output.WriteLine(report.Line("kill-node drill (dashboard command)", seconds));
        AssertHeld(report, Bounds.Replayed);

        // The dashboard: the dead replicas stay as Exited rows under node-1; their replacements are Running rows.
        var views = await ServeApp.WaitUntilAsync(() => Task.FromResult(watcher.Replicas),
            v => orphans.All(o => v.Any(x => x.ReplicaId == o.ReplicaId && x.State == "Exited")) && v.Count(x => x.State == "Running") == 6,
            Timeout, "node-1's replicas Exited and 6 Running replica resources");
        Assert.All(orphans, o => Assert.Equal(node1, views.Single(v => v.ReplicaId == o.ReplicaId).ParentName));
        // The restart policy brings the agent back; its row counts the restart and shows the exit code (137 = SIGKILL).
        var node = await ServeApp.WaitUntilAsync(() => Task.FromResult(watcher.Get(node1)),
            e => e is not null && e.Snapshot.State?.Text == "Running" && ResourceWatcher.Prop(e, "serve.restarts") == "1", Timeout, "node-1 Running again with serve.restarts = 1");
        output.WriteLine($"node-1 last exit code: {ResourceWatcher.Prop(node!, "serve.lastExitCode")}");
        Assert.False(string.IsNullOrEmpty(ResourceWatcher.Prop(node!, "serve.lastExitCode")));
        // The drill said what it did, in the node's log.
        await ServeApp.WaitUntilAsync(() => { lock (nodeLog) return Task.FromResult(nodeLog.ToList()); },
            lines => lines.Any(l => l.Contains("Drill: killed (SIGKILL) node agent node-1")) && lines.Any(l => l.Contains("Drill: replaced")),
            Timeout, "the drill's lines in node-1's log");
        await stopLog.CancelAsync();
        await logTask;
    }

    [Fact]
    public async Task ScaleDrill_WithArguments_ScalesTheDeployment_StoppedReplicasShowFinished_ReapplyRestoresTheConfig()
    {
        await using var app = await ServeApp.StartAsync();
        await using var watcher = new ResourceWatcher(app.Aspire);
        await RunningAsync(app, 6);
        var commands = app.Aspire.Services.GetRequiredService<ResourceCommandService>();

        var scale = await commands.ExecuteCommandAsync("serve", "scale-deployment", new InteractionInputCollection(
        [
            new InteractionInput { Name = "deployment", InputType = InputType.Text, Value = "SleepyPid" },
            new InteractionInput { Name = "replicas", InputType = InputType.Number, Value = "2" },
        ]));
        Assert.True(scale.Success, scale.Message);
        await RunningAsync(app, 2);
        await ServeApp.WaitUntilAsync(() => Task.FromResult(watcher.Replicas),
            v => v.Count(x => x.State == "Running") == 2 && v.Count(x => x.State == "Finished") == 4, Timeout, "2 Running and 4 Finished replica resources");

        var unknown = await commands.ExecuteCommandAsync("serve", "scale-deployment", new InteractionInputCollection(
        [
            new InteractionInput { Name = "deployment", InputType = InputType.Text, Value = "NoSuch" },
            new InteractionInput { Name = "replicas", InputType = InputType.Number, Value = "2" },
        ]));
        Assert.False(unknown.Success);
        Assert.Contains("no deployment 'NoSuch'", unknown.Message);

        var reapply = await commands.ExecuteCommandAsync("serve", "reapply-config");
        Assert.True(reapply.Success, reapply.Message);
        await RunningAsync(app, 6);
        await ServeApp.WaitUntilAsync(() => Task.FromResult(watcher.Replicas.Count(x => x.State == "Running")), n => n == 6, Timeout, "6 Running replica resources again");
    }
}
