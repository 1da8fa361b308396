using System.Net;
using System.Text.Json.Nodes;

namespace ServeAspire.CliTests;

/// <summary>Each command against a fake controller: the request it sends, what it prints, its exit code.</summary>
public sealed class CommandTests
{
    private const string Details = """
        {"controller_info":{"node_id":"controller"},"proxy_location":"EveryNode",
         "proxies":{"proxy-0":{"node_id":"proxy-0","status":"HEALTHY","address":"http://127.0.0.1:8000"}},
         "deploy_mode":"MULTI_APP","target_capacity":null,
         "applications":{"sleepy":{"name":"sleepy","route_prefix":"/","status":"DEPLOYING","message":"","last_deployed_time_s":1700000000.5,
           "deployed_app_config":{"name":"sleepy","route_prefix":"/","import_path":"Samples:SleepyPid","deployments":[{"name":"SleepyPid","num_replicas":3}]},
           "deployments":{"SleepyPid":{"name":"SleepyPid","status":"UPDATING","status_trigger":"CONFIG_UPDATE_STARTED","message":"Deployment is updating: 2/3 replicas running.","target_num_replicas":3,
             "replicas":[{"state":"RUNNING","pid":11},{"state":"RUNNING","pid":12},{"state":"STARTING","pid":13}]}}}}}
        """;

    private const string Actors = """
        {"total":4,"actors":[
          {"actor_id":"c1","class_name":"ServeController","name":"SERVE_CONTROLLER_ACTOR","state":"ALIVE","pid":1,"node_id":"controller"},
          {"actor_id":"r1","class_name":"ServeReplica:SleepyPid","name":"SERVE_REPLICA::sleepy#SleepyPid#a","state":"ALIVE","pid":11,"node_id":"node-0"},
          {"actor_id":"r2","class_name":"ServeReplica:SleepyPid","name":"SERVE_REPLICA::sleepy#SleepyPid#b","state":"ALIVE","pid":12,"node_id":"node-1"},
          {"actor_id":"r3","class_name":"ServeReplica:SleepyPid","name":"SERVE_REPLICA::sleepy#SleepyPid#c","state":"DEAD","pid":10,"node_id":"node-2","death_cause":"node died"}]}
        """;

    private readonly CliHarness _cli = new();

    [Fact]
    public async Task Status_Table_ShowsDeploymentReplicaCountsByStateAndMessages()
    {
        _cli.Controller.Answer(HttpMethod.Get, "/api/serve/applications/", HttpStatusCode.OK, Details);
        var r = await _cli.RunAsync("status");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("sleepy", r.Out);
        Assert.Contains("SleepyPid", r.Out);
        Assert.Contains("RUNNING 2, STARTING 1", r.Out);
        Assert.Contains("UPDATING", r.Out);
        Assert.Contains("proxy-0", r.Out);
        Assert.Contains("sleepy/SleepyPid: Deployment is updating: 2/3 replicas running.", r.Out);
        Assert.Equal("", r.Error);
        Assert.Equal("Bearer " + CliHarness.Token, Assert.Single(_cli.Controller.Requests).Authorization);
    }

    [Fact]
    public async Task Status_Json_HasRaysServeStatusShape()
    {
        _cli.Controller.Answer(HttpMethod.Get, "/api/serve/applications/", HttpStatusCode.OK, Details);
        var r = await _cli.RunAsync("status", "--output", "json");
        Assert.Equal(0, r.ExitCode);
        var status = JsonNode.Parse(r.Out)!;
        Assert.Equal("HEALTHY", status["proxies"]!["proxy-0"]!.GetValue<string>());
        var dep = status["applications"]!["sleepy"]!["deployments"]!["SleepyPid"]!;
        Assert.Equal("UPDATING", dep["status"]!.GetValue<string>());
        Assert.Equal("CONFIG_UPDATE_STARTED", dep["status_trigger"]!.GetValue<string>());
        Assert.Equal(2, dep["replica_states"]!["RUNNING"]!.GetValue<int>());
        Assert.Equal(1, dep["replica_states"]!["STARTING"]!.GetValue<int>());
    }

    [Fact]
    public async Task Status_Yaml_IsYaml()
    {
        _cli.Controller.Answer(HttpMethod.Get, "/api/serve/applications/", HttpStatusCode.OK, Details);
        var r = await _cli.RunAsync("status", "-o", "YAML");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("applications:\n  sleepy:\n    status: DEPLOYING\n", r.Out.Replace("\r", ""));
        Assert.Contains("RUNNING: 2", r.Out);
    }

    [Fact]
    public async Task Status_ShowsTheAutoscalersTargetAndLastDecision()
    {
        var details = JsonNode.Parse(Details)!;
        details["applications"]!["sleepy"]!["deployments"]!["SleepyPid"]!["autoscaling"] = JsonNode.Parse(
            """{"min_replicas":1,"max_replicas":6,"target_replicas":3,"current_replicas":2,"last_decision":"scale up from 1 to 3: 5.8 ongoing requests","decided_at_s":1700000001}""");
        _cli.Controller.Answer(HttpMethod.Get, "/api/serve/applications/", HttpStatusCode.OK, details.ToJsonString());
        var table = await _cli.RunAsync("status");
        Assert.Equal(0, table.ExitCode);
        Assert.Contains("autoscaling 2 → 3 replicas (min 1, max 6); last decision: scale up from 1 to 3: 5.8 ongoing requests", table.Out.ReplaceLineEndings(" "));
        var json = await _cli.RunAsync("status", "-o", "json");
        var a = JsonNode.Parse(json.Out)!["applications"]!["sleepy"]!["deployments"]!["SleepyPid"]!["autoscaling"]!;
        Assert.Equal(3, a["target_replicas"]!.GetValue<int>());
        Assert.StartsWith("scale up from 1", a["last_decision"]!.GetValue<string>());
    }

    [Fact]
    public async Task Status_NoApplications_SaysSo()
    {
        _cli.Controller.Answer(HttpMethod.Get, "/api/serve/applications/", HttpStatusCode.OK, """{"proxies":{},"applications":{}}""");
        var r = await _cli.RunAsync("status");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("No applications are deployed.", r.Out);
    }

    [Fact]
    public async Task Config_PrintsEachAppliedConfigAsYaml()
    {
        _cli.Controller.Answer(HttpMethod.Get, "/api/serve/applications/", HttpStatusCode.OK, Details);
        var r = await _cli.RunAsync("config");
        Assert.Equal(0, r.ExitCode);
        var text = r.Out.Replace("\r", "");
        Assert.Contains("name: sleepy\n", text);
        Assert.Contains("import_path: Samples:SleepyPid\n", text);
        Assert.Contains("- name: SleepyPid\n  num_replicas: 3\n", text);
    }

    [Fact]
    public async Task Config_UnknownApplication_Fails()
    {
        _cli.Controller.Answer(HttpMethod.Get, "/api/serve/applications/", HttpStatusCode.OK, Details);
        var r = await _cli.RunAsync("config", "--name", "other");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("no application named 'other'", r.Error);
    }

    [Fact]
    public async Task Kill_PostsNoRestartFalseByDefault_AndPrintsTheMessage()
    {
        _cli.Controller.Answer(HttpMethod.Post, "/api/actors/node-1/kill", HttpStatusCode.OK,
            """{"name":"node-1","kind":"node","no_restart":false,"message":"node node-1 (pid 42) was sent a kill order; its supervisor restarts it"}""");
        var r = await _cli.RunAsync("kill", "node-1");
        Assert.Equal(0, r.ExitCode);
        var sent = Assert.Single(_cli.Controller.Requests);
        Assert.Equal("""{"no_restart":false}""", sent.Body);
        Assert.Equal($"Bearer {CliHarness.Token}", sent.Authorization);
        Assert.Contains("node node-1 (pid 42) was sent a kill order", r.Out);
    }

    [Fact]
    public async Task Kill_NoRestart_EscapesTheName_AndJsonOutputIsTheAnswer()
    {
        _cli.Controller.Answer(HttpMethod.Post, "/api/actors/SERVE_REPLICA%3A%3ASleepyPid%23ab/kill", HttpStatusCode.OK,
            """{"name":"SERVE_REPLICA::SleepyPid#ab","kind":"replica","no_restart":true,"message":"killed"}""");
        var r = await _cli.RunAsync("kill", "SERVE_REPLICA::SleepyPid#ab", "--no-restart", "--output", "json");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("""{"no_restart":true}""", _cli.Controller.Requests[0].Body);
        Assert.Equal("replica", JsonNode.Parse(r.Out)!["kind"]!.GetValue<string>());
    }

    [Fact]
    public async Task Kill_Refused_PrintsTheControllersError_Exit1()
    {
        _cli.Controller.Answer(HttpMethod.Post, "/api/actors/nope/kill", HttpStatusCode.NotFound, """{"error":"no live actor named 'nope'"}""");
        var r = await _cli.RunAsync("kill", "nope");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("no live actor named 'nope'", r.Error);
    }

    [Fact]
    public async Task Kill_WithoutAName_IsAUsageError()
    {
        var r = await _cli.RunAsync("kill");
        Assert.Equal(2, r.ExitCode);
        Assert.Empty(_cli.Controller.Requests);
    }

    [Fact]
    public async Task Deploy_PutsTheFile_AndReportsTheApplications()
    {
        var file = Path.Combine(_cli.WorkingDirectory, $"serve-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(file, "applications:\n  - name: a\n");
        try
        {
            _cli.Controller.Answer(HttpMethod.Put, "/api/serve/applications/", HttpStatusCode.OK,
                """{"message":"Config accepted","applications":["a"],"ignored":["http_options.port"]}""");
            var r = await _cli.RunAsync("deploy", Path.GetFileName(file));
            Assert.Equal(0, r.ExitCode);
            var sent = Assert.Single(_cli.Controller.Requests);
            Assert.Equal("applications:\n  - name: a\n", sent.Body);
            Assert.Equal("application/yaml", sent.ContentType);
            Assert.Contains("Sent deploy request for 1 application(s): a", r.Out);
            Assert.Contains("ignored: http_options.port", r.Error);
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public async Task Deploy_Rejected_PrintsEachFieldAndMessage_Exit1()
    {
        var file = Path.Combine(_cli.WorkingDirectory, $"serve-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, """{"applications":[]}""");
        try
        {
            _cli.Controller.Answer(HttpMethod.Put, "/api/serve/applications/", HttpStatusCode.BadRequest,
                """{"error":"1 validation error for ServeDeploySchema: ...","errors":[{"loc":"applications[0].deployments[0].num_replica","msg":"unknown field 'num_replica'; did you mean 'num_replicas'?"}]}""");
            var r = await _cli.RunAsync("deploy", file);
            Assert.Equal(1, r.ExitCode);
            Assert.Equal("application/json", _cli.Controller.Requests[0].ContentType);
            Assert.Contains("applications[0].deployments[0].num_replica: unknown field 'num_replica'; did you mean 'num_replicas'?", r.Error);
            Assert.Contains("the running config is unchanged", r.Error);
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public async Task Deploy_MissingFile_IsAUsageError()
    {
        var r = await _cli.RunAsync("deploy", "no-such-file.yaml");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("no such file: no-such-file.yaml", r.Error);
        Assert.Empty(_cli.Controller.Requests);
    }

    [Fact]
    public async Task Shutdown_Yes_Deletes()
    {
        _cli.Controller.Answer(HttpMethod.Delete, "/api/serve/applications/", HttpStatusCode.OK, "");
        var r = await _cli.RunAsync("shutdown", "-y");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(HttpMethod.Delete, Assert.Single(_cli.Controller.Requests).Method);
    }

    [Fact]
    public async Task Shutdown_AsksFirst_AndAnsweringNoSendsNothing()
    {
        _cli.Input = "n";
        var r = await _cli.RunAsync("shutdown");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("Continue?", r.Out);
        Assert.Contains("aborted", r.Error);
        Assert.Empty(_cli.Controller.Requests);
    }

    [Fact]
    public async Task Shutdown_AsksFirst_AndAnsweringYesDeletes()
    {
        _cli.Input = "y";
        _cli.Controller.Answer(HttpMethod.Delete, "/api/serve/applications/", HttpStatusCode.OK, "");
        var r = await _cli.RunAsync("shutdown");
        Assert.Equal(0, r.ExitCode);
        Assert.Single(_cli.Controller.Requests);
    }

    [Fact]
    public async Task Shutdown_NotInteractive_WithoutYes_IsAUsageError()
    {
        var r = await _cli.RunAsync("shutdown");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("-y/--yes", r.Error);
        Assert.Empty(_cli.Controller.Requests);
    }

    [Fact]
    public async Task ListActors_SendsEachFilterAsAQueryParameter()
    {
        _cli.Controller.Answer(HttpMethod.Get, "/api/actors?state=ALIVE&class_name=ServeReplica%3ASleepyPid", HttpStatusCode.OK, Actors);
        var r = await _cli.RunAsync("list", "actors", "--filter", "state=ALIVE", "-f", "class_name=ServeReplica:SleepyPid");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("SERVE_REPLICA::sleepy#SleepyPid#a", r.Out);
        Assert.Contains("node died", r.Out);
        Assert.Contains("4 actors", r.Out);
    }

    [Fact]
    public async Task ListActors_UnknownFilter_IsAUsageError_WithTheControllersMessage()
    {
        _cli.Controller.Answer(HttpMethod.Get, "/api/actors?colour=red", HttpStatusCode.BadRequest,
            """{"error":"unknown filter 'colour'; filter on one of: class_name, state"}""");
        var r = await _cli.RunAsync("list", "actors", "--filter", "colour=red");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("unknown filter 'colour'", r.Error);
    }

    [Theory]
    [InlineData("state")]
    [InlineData("=ALIVE")]
    public async Task ListActors_FilterWithoutKeyValue_IsAUsageError(string filter)
    {
        var r = await _cli.RunAsync("list", "actors", "--filter", filter);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--filter takes key=value", r.Error);
        Assert.Empty(_cli.Controller.Requests);
    }

    [Fact]
    public async Task ListActors_Yaml()
    {
        _cli.Controller.Answer(HttpMethod.Get, "/api/actors", HttpStatusCode.OK, Actors);
        var r = await _cli.RunAsync("list", "actors", "-o", "yaml");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("total: 4", r.Out);
        Assert.Contains("- actor_id: r1", r.Out);
    }

    [Fact]
    public async Task SummaryActors_CountsByClassAndState()
    {
        _cli.Controller.Answer(HttpMethod.Get, "/api/actors", HttpStatusCode.OK, Actors);
        var json = await _cli.RunAsync("summary", "actors", "--output", "json");
        Assert.Equal(0, json.ExitCode);
        var summary = JsonNode.Parse(json.Out)!;
        Assert.Equal(4, summary["total_actors"]!.GetValue<int>());
        Assert.Equal(2, summary["summary"]!["ServeReplica:SleepyPid"]!["state_counts"]!["ALIVE"]!.GetValue<int>());
        Assert.Equal(1, summary["summary"]!["ServeReplica:SleepyPid"]!["state_counts"]!["DEAD"]!.GetValue<int>());

        var table = await _cli.RunAsync("summary", "actors");
        Assert.Contains("ALIVE: 2, DEAD: 1", table.Out);
        Assert.Contains("ServeController", table.Out);
    }

    [Fact]
    public async Task ListNodes_Table()
    {
        _cli.Controller.Answer(HttpMethod.Get, "/api/nodes", HttpStatusCode.OK,
            """{"total":1,"nodes":[{"node_id":"node-0","state":"ALIVE","instance_id":"i","pid":42,"address":"http://127.0.0.1:5000","started_at":"2026-01-01T00:00:00+00:00"}]}""");
        var r = await _cli.RunAsync("list", "nodes");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("node-0", r.Out);
        Assert.Contains("42", r.Out);
        Assert.Contains("1 nodes", r.Out);
    }
}
