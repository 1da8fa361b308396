using System.Text.Json.Nodes;
using ServeAspire.EndToEndTests.Foundation;
using ServeAspire.EndToEndTests.Infrastructure;
using Xunit.Abstractions;

namespace ServeAspire.EndToEndTests.Cli;

/// <summary>The <c>serve</c> CLI against the shared running system: commands that only read, and a rejected deploy.</summary>
[Collection(SharedServeAppCollection.Name)]
public sealed class CliSharedAppTests(SharedServeApp fixture, ITestOutputHelper output)
{
    private ServeApp App => fixture.App;

    private async Task<CliRunner.Result> RunAsync(params string[] args)
    {
        var result = await CliRunner.RunAsync(App, args);
        output.WriteLine($"$ serve {string.Join(' ', args)}  → {result.ExitCode}\n{result.Out}{result.Error}");
        return result;
    }

    private Task SixRunningAsync() => ServeApp.WaitUntilAsync(
        () => App.ReplicasAsync(), r => r.Count(x => x.State == "RUNNING") == 6, TimeSpan.FromSeconds(60), "6 RUNNING SleepyPid replicas");

    [Fact]
    public async Task Cli_Status_ShowsTheSleepyApplication_WithSixRunningReplicas()
    {
        await SixRunningAsync();
        var json = await RunAsync("status", "-o", "json");
        Assert.Equal(0, json.ExitCode);
        var dep = JsonNode.Parse(json.Out)!["applications"]!["sleepy"]!["deployments"]!["SleepyPid"]!;
        Assert.Equal(6, dep["replica_states"]!["RUNNING"]!.GetValue<int>());
        Assert.Equal(6, dep["target_num_replicas"]!.GetValue<int>());

        var table = await RunAsync("status");
        Assert.Equal(0, table.ExitCode);
        Assert.Contains("SleepyPid", table.Out);
        Assert.Contains("RUNNING 6", table.Out);
        Assert.Contains("proxy-0", table.Out);
    }

    [Fact]
    public async Task Cli_Config_IsTheAppliedSampleAsYaml()
    {
        var r = await RunAsync("config");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("name: sleepy", r.Out);
        Assert.Contains("import_path: Samples:SleepyPid", r.Out);
        Assert.Contains("num_replicas: 6", r.Out);
    }

    [Fact]
    public async Task Cli_ListActors_Filters_AndSummaryCountsByClass()
    {
        await SixRunningAsync();
        var list = await RunAsync("list", "actors", "--filter", "class_name=ServeReplica:SleepyPid", "--filter", "state=ALIVE", "-o", "json");
        Assert.Equal(0, list.ExitCode);
        var actors = JsonNode.Parse(list.Out)!["actors"]!.AsArray();
        Assert.Equal(6, actors.Count);
        Assert.All(actors, a => Assert.Equal("ServeReplica:SleepyPid", a!["class_name"]!.GetValue<string>()));

        var unknown = await RunAsync("list", "actors", "--filter", "colour=red");
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("unknown filter 'colour'", unknown.Error);

        var summary = await RunAsync("summary", "actors", "-o", "json");
        Assert.Equal(0, summary.ExitCode);
        Assert.True(JsonNode.Parse(summary.Out)!["summary"]!["ServeReplica:SleepyPid"]!["state_counts"]!["ALIVE"]!.GetValue<int>() >= 6);
        Assert.Contains("ServeReplica:SleepyPid", (await RunAsync("summary", "actors")).Out);
    }

    [Fact]
    public async Task Cli_ListNodes_ShowsThreeAliveNodes()
    {
        var r = await RunAsync("list", "nodes", "-o", "yaml");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("total: 3", r.Out);
        var table = await RunAsync("list", "nodes");
        Assert.Contains("node-0", table.Out);
        Assert.Contains("ALIVE", table.Out);
    }

    [Fact]
    public async Task Cli_Deploy_Rejected_NamesTheField_Exit1_AndChangesNothing()
    {
        var file = Path.Combine(Path.GetTempPath(), $"serve-cli-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(file, File.ReadAllText(Path.Combine(SharedAppTests.RepoRoot(), "samples", "serve.yaml")).Replace("num_replicas", "num_replica"));
        try
        {
            var r = await RunAsync("deploy", file);
            Assert.Equal(1, r.ExitCode);
            Assert.Contains("applications[0].deployments[0].num_replica: unknown field 'num_replica'", r.Error);
            Assert.Contains("num_replicas: 6", (await RunAsync("config")).Out);
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public async Task Cli_WrongToken_IsRefused_Exit1_WithoutPrintingIt()
    {
        const string wrong = "not-the-cluster-token-0123456789";
        var r = await CliRunner.RunAsync(App, new Dictionary<string, string> { ["SERVE_AUTH_TOKEN"] = wrong }, "status");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("the controller refused the token (401)", r.Error);
        Assert.DoesNotContain(wrong, r.Out + r.Error);

        var ok = await CliRunner.RunAsync(App, "status");
        Assert.DoesNotContain(App.Token, ok.Out + ok.Error);
    }
}
