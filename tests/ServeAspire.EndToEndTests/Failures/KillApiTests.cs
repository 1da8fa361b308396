using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ServeAspire.EndToEndTests.Infrastructure;
using Xunit.Abstractions;
using static ServeAspire.EndToEndTests.Failures.FailureScenario;

namespace ServeAspire.EndToEndTests.Failures;

/// <summary>
/// The kill API (<c>POST /api/actors/{name}/kill</c>, Ray's <c>ray.kill</c>) under load, each on its own
/// app: a replica without and with restart, a node agent, and the leading controller through <c>serve kill</c>.
/// </summary>
[Trait("Category", "Failover")]
public sealed class KillApiTests(ITestOutputHelper output)
{
    private static async Task<JsonNode> KillAsync(ServeApp app, string name, bool? noRestart)
    {
        using var response = await app.Http.PostAsync(new Uri(app.Controller, $"/api/actors/{Uri.EscapeDataString(name)}/kill"),
            noRestart is null ? null : JsonContent.Create(new { no_restart = noRestart }));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"kill {name}: {(int)response.StatusCode} {body}");
        return JsonNode.Parse(body)!;
    }

    private static async Task<JsonNode?> ActorAsync(ServeApp app, string query) => (await app.ActorsAsync(query)).FirstOrDefault();

    [Fact]
    public async Task ReplicaKilledWithoutRestart_ReplacedUnderANewName_DeathCauseShown_NoRequestFails()
    {
        await using var app = await ServeApp.StartAsync();
        var before = await RunningAsync(app, 6);
        var victim = before[0];
        await using var load = Load(app);
        await load.WarmUpAsync();
        await AssertFlowingAsync(load);
        Assert.Contains(load.Completed(), s => s.Pid == victim.Pid); // the victim serves: its loss is felt

        load.MarkFault();
        var answer = await KillAsync(app, victim.ReplicaId, noRestart: null); // Ray's default: no_restart=true
        Assert.Equal(("replica", true), (answer["kind"]!.GetValue<string>(), answer["no_restart"]!.GetValue<bool>()));
        var seconds = await SecondsUntilAsync(load, async () =>
        {
            var r = await app.ReplicasAsync();
            return r.Count(x => x.State == "RUNNING") == 6 && r.All(x => x.ReplicaId != victim.ReplicaId);
        }, TimeSpan.FromSeconds(60), "6 RUNNING replicas, the killed one replaced under a new name");
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        output.WriteLine(report.Line("kill API: replica, no_restart", seconds));

        AssertHeld(report, Bounds.Replayed);
        Assert.False(ServeApp.ProcessExists(victim.Pid!.Value), $"the killed replica's process {victim.Pid} still runs");
        var dead = await ActorAsync(app, $"?actor_id={victim.ReplicaId}&state=DEAD");
        Assert.NotNull(dead);
        Assert.Contains("killed by the kill API", dead["death_cause"]!.GetValue<string>());
        Assert.Equal(137, dead["exit_code"]!.GetValue<int>());
    }

    [Fact]
    public async Task ReplicaKilledWithRestart_ComesBackUnderItsName_WithANewPid_NumRestarts1_NoRequestFails()
    {
        await using var app = await ServeApp.StartAsync();
        var before = await RunningAsync(app, 6);
        var victim = before[0];
        await using var load = Load(app);
        await load.WarmUpAsync();
        await AssertFlowingAsync(load);
        Assert.Contains(load.Completed(), s => s.Pid == victim.Pid);

        load.MarkFault();
        var answer = await KillAsync(app, victim.ReplicaId, noRestart: false);
        Assert.Equal(("replica", false), (answer["kind"]!.GetValue<string>(), answer["no_restart"]!.GetValue<bool>()));
        var sawRestarting = false;
        var seconds = await SecondsUntilAsync(load, async () =>
        {
            var r = await app.ReplicasAsync();
            var v = r.SingleOrDefault(x => x.ReplicaId == victim.ReplicaId);
            sawRestarting |= v is { State: "STARTING" };
            return r.Count(x => x.State == "RUNNING") == 6 && v is { State: "RUNNING" } && v.Pid != victim.Pid;
        }, TimeSpan.FromSeconds(60), $"replica {victim.ReplicaId} RUNNING again under its name with a new pid");
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        output.WriteLine(report.Line("kill API: replica, restart in place", seconds));

        AssertHeld(report, Bounds.Replayed);
        Assert.True(sawRestarting, "the restarted replica was never seen STARTING: it cannot have left the routes while its constructor ran");
        var after = await app.ReplicasAsync();
        Assert.Equal(before.Select(r => r.ReplicaId).Order(), after.Select(r => r.ReplicaId).Order()); // nobody replaced
        var row = await ActorAsync(app, $"?actor_id={victim.ReplicaId}&state=ALIVE");
        Assert.NotNull(row);
        Assert.Equal((1, 137), (row["num_restarts"]!.GetValue<int>(), row["exit_code"]!.GetValue<int>()));
        Assert.Empty(await app.ActorsAsync($"?actor_id={victim.ReplicaId}&state=DEAD"));
        Assert.False(ServeApp.ProcessExists(victim.Pid!.Value), $"the killed replica's old process {victim.Pid} still runs");
    }

    [Fact]
    public async Task NodeKilled_ThroughTheApi_ItsReplicasMoveAndDie_ItComesBack_DeathCauseShown_NoRequestFails()
    {
        await using var app = await ServeApp.StartAsync();
        var before = await RunningAsync(app, 6);
        var nodePid = (await app.GetJsonAsync("/api/nodes"))["nodes"]!.AsArray().Single(n => n!["node_id"]!.GetValue<string>() == "node-1")!["pid"]!.GetValue<int>();
        var orphans = before.Where(r => r.NodeId == "node-1").Select(r => r.Pid!.Value).ToList();
        Assert.True(orphans.Count >= 1, $"node-1 holds no replica: the test would check nothing ({string.Join(", ", before.Select(r => r.NodeId))})");
        await using var load = Load(app);
        await load.WarmUpAsync();
        await AssertFlowingAsync(load);

        load.MarkFault();
        var answer = await KillAsync(app, "node-1", noRestart: false);
        Assert.Equal(("node", nodePid), (answer["kind"]!.GetValue<string>(), answer["pid"]!.GetValue<int>()));
        var seconds = await SecondsUntilAsync(load, async () =>
        {
            var r = await app.ReplicasAsync();
            return r.Count(x => x.State == "RUNNING") == 6 && r.All(x => !orphans.Contains(x.Pid!.Value));
        }, TimeSpan.FromSeconds(60), "6 RUNNING replicas, none of the killed node's");
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        output.WriteLine(report.Line("kill API: node", seconds));

        AssertHeld(report, Bounds.Replayed);
        Assert.False(ServeApp.ProcessExists(nodePid), $"node-1's process {nodePid} still runs");
        Assert.All(orphans, pid => Assert.False(ServeApp.ProcessExists(pid), $"replica {pid} of the killed node is still running"));
        var dead = await ActorAsync(app, "?name=node-1&state=DEAD");
        Assert.NotNull(dead);
        Assert.Equal(nodePid, dead["pid"]!.GetValue<int>());
        Assert.Contains("killed by the kill API", dead["death_cause"]!.GetValue<string>());
        await ServeApp.WaitUntilAsync(() => app.GetJsonAsync("/api/nodes"), n => n["nodes"]!.AsArray().Any(x =>
            x!["node_id"]!.GetValue<string>() == "node-1" && x["state"]!.GetValue<string>() == "ALIVE" && x["pid"]!.GetValue<int>() != nodePid),
            TimeSpan.FromSeconds(30), "node-1 back with a new PID (the AppHost's restart policy)");
    }

    [Fact]
    public async Task LeaderKilled_WithServeKill_StandbyLeads_ItComesBack_ProxyKilledToo_NoRequestFails()
    {
        await using var app = await ServeApp.StartAsync();
        await RunningAsync(app, 6);
        var (leaderIndex, leaderPid) = await app.LeaderAsync(TimeSpan.FromSeconds(30));
        var proxyPid = (await app.ActorsAsync("?name=SERVE_PROXY_ACTOR-proxy-1"))[0]!["pid"]!.GetValue<int>();
        // Proxy-1 is killed too, so the load stays on proxy-0 (a client of a dead proxy sees its connection refused).
        await using var load = Load([app.Proxy(0)]);
        await load.WarmUpAsync();
        await AssertFlowingAsync(load);

        load.MarkFault();
        var cli = await CliRunner.RunAsync(app, "kill", "SERVE_CONTROLLER_ACTOR");
        Assert.True(cli.ExitCode == 0, $"serve kill SERVE_CONTROLLER_ACTOR: exit {cli.ExitCode}: {cli.Out}{cli.Error}");
        Assert.Contains($"controller-{leaderIndex}", cli.Out);
        var standby = 1 - leaderIndex;
        await ServeApp.WaitUntilAsync(() => app.ControllerStatusAsync(standby), s => s?["is_leader"]?.GetValue<bool>() == true && s["recovered"]?.GetValue<bool>() == true,
            TimeSpan.FromSeconds(20), $"controller-{standby} leading and recovered");
        var proxyKill = await KillAsync(app, "proxy-1", noRestart: false);
        Assert.Equal(("proxy", proxyPid), (proxyKill["kind"]!.GetValue<string>(), proxyKill["pid"]!.GetValue<int>()));
        var seconds = await SecondsUntilAsync(load, async () =>
            await app.PidThroughProxyAsync(1) is not null && (await app.ControllerStatusAsync(leaderIndex))?["pid"]?.GetValue<int>() is { } pid && pid != leaderPid,
            TimeSpan.FromSeconds(60), "proxy-1 serving again and the killed controller back with a new pid");
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        output.WriteLine(report.Line("kill API: leader (serve kill) and proxy", seconds));

        AssertHeld(report, Bounds.Untouched);
        Assert.False(ServeApp.ProcessExists(leaderPid), $"the killed controller {leaderPid} still runs");
        Assert.False(ServeApp.ProcessExists(proxyPid), $"the killed proxy {proxyPid} still runs");
        var deadController = await ActorAsync(app, $"?name=controller-{leaderIndex}&state=DEAD");
        Assert.NotNull(deadController);
        Assert.Equal(leaderPid, deadController["pid"]!.GetValue<int>());
        var deadProxy = await ActorAsync(app, $"?name=SERVE_PROXY_ACTOR-proxy-1&state=DEAD&pid={proxyPid}");
        Assert.NotNull(deadProxy);
        Assert.Contains("killed by the kill API", deadProxy["death_cause"]!.GetValue<string>());
    }
}
