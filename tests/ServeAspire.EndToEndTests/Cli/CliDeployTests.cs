using System.Text.Json.Nodes;
using ServeAspire.EndToEndTests.Foundation;
using ServeAspire.EndToEndTests.Infrastructure;
using Xunit.Abstractions;

namespace ServeAspire.EndToEndTests.Cli;

/// <summary><c>serve deploy</c> and <c>serve shutdown</c> change the config: on an app of their own.</summary>
public sealed class CliDeployTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Cli_Deploy_ScalesTheSample_ThenShutdown_DeletesEveryApplication()
    {
        await using var app = await ServeApp.StartAsync();
        var file = Path.Combine(Path.GetTempPath(), $"serve-cli-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(file, File.ReadAllText(Path.Combine(SharedAppTests.RepoRoot(), "samples", "serve.yaml")).Replace("num_replicas: 6", "num_replicas: 2"));
        try
        {
            var deploy = await CliRunner.RunAsync(app, "deploy", file);
            output.WriteLine(deploy.Out + deploy.Error);
            Assert.Equal(0, deploy.ExitCode);
            Assert.Contains("Sent deploy request for 1 application(s): sleepy", deploy.Out);

            await ServeApp.WaitUntilAsync(async () =>
            {
                var status = await CliRunner.RunAsync(app, "status", "-o", "json");
                Assert.Equal(0, status.ExitCode);
                var dep = JsonNode.Parse(status.Out)!["applications"]!["sleepy"]!["deployments"]!["SleepyPid"]!;
                return (Target: dep["target_num_replicas"]!.GetValue<int>(), Running: dep["replica_states"]!["RUNNING"]?.GetValue<int>() ?? 0,
                    Total: dep["replica_states"]!.AsObject().Sum(s => s.Value!.GetValue<int>()));
            }, s => s.Target == 2 && s.Running == 2 && s.Total == 2, TimeSpan.FromSeconds(90), "2 RUNNING replicas, as the CLI deployed");

            var shutdown = await CliRunner.RunAsync(app, "shutdown", "--yes");
            Assert.Equal(0, shutdown.ExitCode);
            await ServeApp.WaitUntilAsync(async () => (await CliRunner.RunAsync(app, "status")).Out,
                s => s.Contains("No applications are deployed.", StringComparison.Ordinal), TimeSpan.FromSeconds(90), "no application after serve shutdown");
        }
        finally { File.Delete(file); }
    }
}
