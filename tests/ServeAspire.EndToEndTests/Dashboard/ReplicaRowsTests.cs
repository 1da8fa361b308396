using System.Text.Json.Nodes;
using Aspire.Hosting.ApplicationModel;
using ServeAspire.AppHost.Dashboard;

namespace ServeAspire.EndToEndTests.Dashboard;

/// <summary>The controller's JSON → replica rows → dashboard snapshots, and the scale drill's config (no app started).</summary>
public sealed class ReplicaRowsTests
{
    private static JsonNode Applications(params string[] replicas) => JsonNode.Parse($$"""
        { "http_options": { "host": "127.0.0.1", "port": 8000, "request_timeout_s": 30 },
          "applications": { "sleepy": { "status": "RUNNING",
            "deployed_app_config": { "name": "sleepy", "route_prefix": "/", "import_path": "Samples:SleepyPid",
                                     "deployments": [ { "name": "SleepyPid", "num_replicas": 6 } ] },
            "deployments": { "SleepyPid": { "status": "HEALTHY", "target_num_replicas": 6, "replicas": [ {{string.Join(",", replicas)}} ] } } } } }
        """)!;

    private static string Replica(string id, string state, int pid, string node = "node-0", string? stopReason = null) =>
        $$"""{ "replica_id": "{{id}}", "node_id": "{{node}}", "state": "{{state}}", "pid": {{pid}}, "start_time_s": 1700000000.5{{(stopReason is null ? "" : $", \"stop_reason\": \"{stopReason}\"")}} }""";

    [Fact]
    public void From_LiveReplicas_CarryApplicationDeploymentNodePidAndStartTime()
    {
        var rows = ReplicaRows.From(Applications(Replica("aaaa1111", "RUNNING", 41, "node-2")), null);

        var row = Assert.Single(rows);
        Assert.Equal(new ReplicaRow("aaaa1111", "sleepy", "SleepyPid", "node-2", "RUNNING", 41, DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_500)), row);
    }

    [Fact]
    public void From_DeadActorRows_BecomeDeadRows_WithCauseRestartsAndExitCode_AndALiveReplicaIsNeverTakenForDead()
    {
        var actors = JsonNode.Parse("""
            { "total": 4, "actors": [
              { "actor_id": "ctl", "class_name": "ServeController", "name": "SERVE_CONTROLLER_ACTOR", "state": "ALIVE", "pid": 1 },
              { "actor_id": "aaaa1111", "class_name": "ServeReplica:SleepyPid", "state": "ALIVE", "pid": 41, "num_restarts": 2 },
              { "actor_id": "aaaa1111", "class_name": "ServeReplica:SleepyPid", "state": "DEAD", "pid": 41 },
              { "actor_id": "bbbb2222", "class_name": "ServeReplica:SleepyPid", "state": "DEAD", "pid": 42, "node_id": "node-1",
                "death_cause": "node node-1 is dead (heartbeat expired)", "num_restarts": 1, "exit_code": 137 } ] }
            """);

        var rows = ReplicaRows.From(Applications(Replica("aaaa1111", "RUNNING", 41)), actors);

        Assert.Equal(2, rows.Count);
        Assert.Equal("RUNNING", rows.Single(r => r.ReplicaId == "aaaa1111").State);
        var dead = rows.Single(r => r.ReplicaId == "bbbb2222");
        Assert.Equal(new ReplicaRow("bbbb2222", "", "SleepyPid", "node-1", ReplicaRow.Dead, 42, null, 1, 137, null, "node node-1 is dead (heartbeat expired)"), dead);
    }

    [Fact]
    public void From_ActorRowsWithoutRestartFields_ReadAsZeroRestartsAndNoExitCode()
    {
        var actors = JsonNode.Parse("""{ "actors": [ { "actor_id": "aaaa1111", "class_name": "ServeReplica:SleepyPid", "state": "ALIVE", "pid": 41 } ] }""");

        var row = Assert.Single(ReplicaRows.From(Applications(Replica("aaaa1111", "RUNNING", 41)), actors));

        Assert.Equal(0, row.Restarts);
        Assert.Null(row.ExitCode);
    }

    [Fact]
    public void From_NoAnswer_IsNoRows() => Assert.Empty(ReplicaRows.From(null, null));

    [Theory]
    [InlineData("STARTING", null, null, null, "Starting", "info")]
    [InlineData("RUNNING", null, null, null, "Running", "success")]
    [InlineData("UPDATING", null, null, null, "Updating", "info")]
    [InlineData("STOPPING", "downscale", null, null, "Stopping", "info")]
    [InlineData("STOPPING", "health check failed 3 times in a row (timeout)", null, null, "Unhealthy", "error")]
    [InlineData("STOPPING", "unresponsive: 3 requests timed out", null, null, "Unhealthy", "error")]
    [InlineData("UNHEALTHY", null, null, null, "Unhealthy", "error")]
    [InlineData("DEAD", null, "stopped: downscale", null, "Finished", "info")]
    [InlineData("DEAD", null, "node node-1 is dead (heartbeat expired)", null, "Exited", "error")]
    [InlineData("DEAD", null, "stopped", 137, "Exited", "error")]
    public void StateOf_MapsRayStatesToDashboardStates(string state, string? stopReason, string? deathCause, int? exitCode, string text, string style)
    {
        var row = new ReplicaRow("r", "a", "d", "node-0", state, 1, ExitCode: exitCode, StopReason: stopReason, DeathCause: deathCause);

        Assert.Equal((text, style), ReplicaRows.StateOf(row));
    }

    [Fact]
    public void Apply_SetsStateParentAndEveryReplicaProperty_KeepingOtherProperties()
    {
        var previous = new CustomResourceSnapshot
        {
            ResourceType = "x",
            Properties = [new("other", "kept"), new("replica.pid", "1"), new("resource.parentName", "node-9-old")],
        };
        var row = new ReplicaRow("aaaa1111", "sleepy", "SleepyPid", "node-1", ReplicaRow.Dead, 41, DateTimeOffset.FromUnixTimeSeconds(1_700_000_000), 2, 137, null, "killed");
        var stoppedAt = new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc);

        var s = ReplicaRows.Apply(previous, row, "node-1-abcdefgh", stoppedAt);

        Assert.Equal("ServeReplica", s.ResourceType);
        Assert.Equal("Exited", s.State?.Text);
        Assert.Equal(137, s.ExitCode);
        Assert.Equal(stoppedAt, s.StopTimeStamp);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000).UtcDateTime, s.StartTimeStamp);
        var props = s.Properties.ToDictionary(p => p.Name, p => p.Value?.ToString());
        Assert.Equal("kept", props["other"]);
        Assert.Equal("node-1-abcdefgh", props["resource.parentName"]);
        Assert.Equal("aaaa1111", props["replica.id"]);
        Assert.Equal("SleepyPid", props["replica.deployment"]);
        Assert.Equal("sleepy", props["replica.application"]);
        Assert.Equal("node-1", props["replica.node"]);
        Assert.Equal("41", props["replica.pid"]);
        Assert.Equal("2", props["replica.restarts"]);
        Assert.Equal("137", props["replica.exitCode"]);
        Assert.Equal("killed", props["replica.deathCause"]);
        Assert.Equal("sleepy/SleepyPid pid 41", props["resource.source"]);
        Assert.Equal(s.Properties.Length, props.Count); // no property twice
    }

    [Fact]
    public void Apply_LiveReplica_HasNoStopTimeNorExitCode()
    {
        var s = ReplicaRows.Apply(new CustomResourceSnapshot { ResourceType = "x", Properties = [] },
            new ReplicaRow("r", "a", "d", "node-0", "RUNNING", 5), null, null);

        Assert.Equal("Running", s.State?.Text);
        Assert.Null(s.StopTimeStamp);
        Assert.Null(s.ExitCode);
        Assert.DoesNotContain(s.Properties, p => p.Name == "resource.parentName");
    }

    [Theory]
    [InlineData("SleepyPid", "k2j4h5ab", "SleepyPid-k2j4h5ab")]
    [InlineData("my_model.v2", "abc", "my-model-v2-abc")]
    [InlineData("2fast", "abc", "r-2fast-abc")]
    [InlineData("--x--", "abc", "x-abc")]
    public void ResourceName_IsAValidAspireName(string deployment, string replicaId, string expected)
    {
        var name = ReplicaRows.ResourceName(deployment, replicaId);

        Assert.Equal(expected, name);
        Assert.Matches("^[A-Za-z]([A-Za-z0-9]|-(?!-))*[A-Za-z0-9]$", name);
    }

    [Fact]
    public void ResourceName_OfALongDeploymentName_StaysWithin64CharactersAndKeepsTheReplicaId()
    {
        var name = ReplicaRows.ResourceName(new string('d', 100), "k2j4h5ab");

        Assert.True(name.Length <= 64, name);
        Assert.EndsWith("-k2j4h5ab", name);
    }

    [Fact]
    public void Transition_NamesReplicaNodeAndDeployment_AndIsSilentWhenNothingChanged()
    {
        var running = new ReplicaRow("aaaa1111", "sleepy", "SleepyPid", "node-1", "RUNNING", 41);

        Assert.Equal("replica sleepy/SleepyPid#aaaa1111 on node-1 is RUNNING (pid 41)", ReplicaRows.Transition(null, running));
        Assert.Null(ReplicaRows.Transition(running, running with { StartedAt = DateTimeOffset.UnixEpoch }));
        Assert.Equal("replica sleepy/SleepyPid#aaaa1111 on node-1 (pid 41) RUNNING -> DEAD: killed (exit code 137)",
            ReplicaRows.Transition(running, running with { State = ReplicaRow.Dead, DeathCause = "killed", ExitCode = 137 }));
    }

    [Fact]
    public void ScaledConfig_SetsNumReplicasOfThatDeployment_KeepingEveryApplicationAndHttpOptions()
    {
        var details = Applications();
        ((JsonObject)details["applications"]!)["other"] = JsonNode.Parse("""{ "deployed_app_config": { "name": "other", "import_path": "Samples:Echo" }, "deployments": { "Echo": {} } }""");

        var (config, error) = FailureDrills.ScaledConfig(details, "SleepyPid", 2);

        Assert.Null(error);
        Assert.Equal(2, config!["applications"]![0]!["deployments"]![0]!["num_replicas"]!.GetValue<int>());
        Assert.Equal("Samples:SleepyPid", config["applications"]![0]!["import_path"]!.GetValue<string>());
        Assert.Equal("other", config["applications"]![1]!["name"]!.GetValue<string>());
        Assert.Equal(30, config["http_options"]!["request_timeout_s"]!.GetValue<int>());
        Assert.Equal(6, details["applications"]!["sleepy"]!["deployed_app_config"]!["deployments"]![0]!["num_replicas"]!.GetValue<int>()); // input untouched
    }

    [Fact]
    public void ScaledConfig_ADeploymentTheConfigDoesNotList_IsAddedWithItsCount()
    {
        var details = JsonNode.Parse("""{ "applications": { "a": { "deployed_app_config": { "name": "a", "import_path": "Samples:Echo" }, "deployments": { "Echo": {} } } } }""");

        var (config, _) = FailureDrills.ScaledConfig(details, "a/Echo", 3);

        Assert.Equal("""[{"name":"Echo","num_replicas":3}]""", config!["applications"]![0]!["deployments"]!.ToJsonString());
    }

    [Fact]
    public void ScaledConfig_RefusesUnknownAmbiguousAndAutoscaledDeployments()
    {
        var details = JsonNode.Parse("""
            { "applications": {
                "a": { "deployed_app_config": { "name": "a", "deployments": [ { "name": "D", "autoscaling_config": { "min_replicas": 1 } } ] }, "deployments": { "D": {} } },
                "b": { "deployed_app_config": { "name": "b" }, "deployments": { "D": {} } } } }
            """);

        Assert.Contains("no deployment 'X'", FailureDrills.ScaledConfig(details, "X", 1).Error);
        Assert.Contains("say application/deployment", FailureDrills.ScaledConfig(details, "D", 1).Error);
        Assert.Contains("autoscaled", FailureDrills.ScaledConfig(details, "a/D", 1).Error);
        Assert.Null(FailureDrills.ScaledConfig(details, "b/D", 1).Error);
    }
}
