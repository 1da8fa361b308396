using System.Text.Json.Nodes;
using ServeAspire.EndToEndTests.Foundation;
using ServeAspire.EndToEndTests.Infrastructure;
using Xunit.Abstractions;
using static ServeAspire.EndToEndTests.Failures.FailureScenario;

namespace ServeAspire.EndToEndTests.Failures;

/// <summary>
/// The proxy as <c>./run.sh</c> runs it: compiled to native code (issue 10), built by
/// <c>scripts/build-native-proxy.sh</c> (./test.sh runs it first). The other end-to-end tests run the JIT
/// build; this one proves the native one is the binary serving, that its JSON answers (source-generated, no
/// reflection there) are intact, and that it replays a killed replica's requests under load like the JIT one.
/// </summary>
[Trait("Category", "Failover")]
public sealed class NativeProxyTests(ITestOutputHelper output)
{
    private static string Executable { get; } = Path.Combine(SharedAppTests.RepoRoot(), "artifacts", "proxy-native", "ServeAspire.Proxy");

    [Fact]
    public async Task NativeProxy_IsTheBinaryServing_AnswersItsJson_AndAReplicaKill9FailsNoRequest()
    {
        Assert.True(File.Exists(Executable), $"{Executable} is missing: build it with scripts/build-native-proxy.sh (./test.sh does)");
        await using var app = await ServeApp.StartAsync([$"Serve:ProxyExecutable={Executable}"]);
        var before = await RunningAsync(app, 6);

        // Both proxies are the native executable, not `dotnet ServeAspire.Proxy.dll` or the apphost of the JIT build.
        foreach (var name in new[] { "proxy-0", "proxy-1" })
        {
            var pid = (await app.ActorsAsync($"?name=SERVE_PROXY_ACTOR-{name}&state=ALIVE"))[0]!["pid"]!.GetValue<int>();
            Assert.Equal(Executable, new FileInfo($"/proc/{pid}/exe").LinkTarget);
        }

        // The answers whose JSON is source-generated in the native build.
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var routing = JsonNode.Parse(await http.GetStringAsync(new Uri(app.Proxy(0), "/-/routing")))!;
        Assert.True(routing["loaded"]!.GetValue<bool>());
        Assert.Equal(6, routing["deployments"]!["sleepy/SleepyPid"]!["replicas"]!.GetValue<int>());
        Assert.False(routing["deployments"]!["sleepy/SleepyPid"]!["scales_from_zero"]!.GetValue<bool>());
        Assert.NotEmpty(routing["updates"]!.AsArray());
        var routes = JsonNode.Parse(await http.GetStringAsync(new Uri(app.Proxy(0), "/-/routes")))!;
        Assert.Equal("sleepy", routes["/"]!.GetValue<string>());
        // Ray's request counter, recorded by the native build's metrics for a request it forwarded.
        Assert.NotNull(await app.PidThroughProxyAsync(0));
        await ServeApp.WaitUntilAsync(() => http.GetStringAsync(new Uri(app.Proxy(0), "/-/metrics")),
            text => text.Contains("serve_num_http_requests_total{", StringComparison.Ordinal), TimeSpan.FromSeconds(10), "serve_num_http_requests on proxy-0's /-/metrics");

        await using var load = Load(app);
        await load.WarmUpAsync();
        var victim = before[0];
        await AssertFlowingAsync(load);
        Assert.Contains(load.Completed(), s => s.Pid == victim.Pid); // the victim serves: its loss is felt

        load.MarkFault();
        Kill(victim.Pid!.Value);
        var seconds = await SecondsUntilAsync(load, async () =>
        {
            var r = await app.ReplicasAsync();
            return r.Count(x => x.State == "RUNNING") == 6 && r.All(x => x.Pid != victim.Pid);
        }, TimeSpan.FromSeconds(60), "a RUNNING replacement");
        await load.WarmUpAsync(load.Count + 100);
        var report = await load.StopAsync();
        output.WriteLine(report.Line("replica kill -9, native-code proxies", seconds));
        AssertHeld(report, Bounds.Replayed);
    }
}
