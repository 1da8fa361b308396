using System.Net;
using System.Text.Json.Nodes;
using ServeAspire.EndToEndTests.Infrastructure;
using Xunit.Abstractions;

namespace ServeAspire.EndToEndTests.Foundation;

/// <summary>Tests that change the running config: each starts its own app.</summary>
public sealed class ScaleAndRouteTests(ITestOutputHelper output)
{
    private static string Config(int replicas, string route = "/", string extraApps = "") => $$"""
        http_options: { request_timeout_s: 30 }
        applications:
          - name: sleepy
            route_prefix: {{route}}
            import_path: Samples:SleepyPid
            {{ServeApp.QuickSleepyEnv}}
            deployments:
              - name: SleepyPid
                num_replicas: {{replicas}}
        {{extraApps}}
        """;

    [Fact]
    public async Task Scale_DownTo2_ThenUpTo6_ReplicaCountAndAnsweringPidsFollow()
    {
        await using var app = await ServeApp.StartAsync();
        var six = await ServeApp.WaitUntilAsync(() => app.ReplicasAsync(), r => r.Count(x => x.State == "RUNNING") == 6, TimeSpan.FromSeconds(90), "6 RUNNING");

        Assert.Equal(200, (await app.PutConfigAsync(Config(2))).Status);
        var two = await ServeApp.WaitUntilAsync(() => app.ReplicasAsync(), r => r.Count == 2 && r.All(x => x.State == "RUNNING"), TimeSpan.FromSeconds(60), "scale down to 2");
        Assert.Subset(six.Select(r => r.ReplicaId).ToHashSet(), two.Select(r => r.ReplicaId).ToHashSet()); // kept replicas, not new ones
        var pids = new HashSet<int>();
        for (var i = 0; i < 20; i++) pids.Add((await app.PidThroughProxyAsync(i % 2))!.Value);
        Assert.Equal(two.Select(r => r.Pid!.Value).Order(), pids.Order());
        var stopped = six.Where(r => two.All(t => t.ReplicaId != r.ReplicaId)).ToList();
        await ServeApp.WaitUntilAsync(() => Task.FromResult(stopped.Count(r => ServeApp.ProcessExists(r.Pid!.Value))), n => n == 0, TimeSpan.FromSeconds(30), "stopped replica processes to exit");
        var dead = await app.ActorsAsync("?class_name=ServeReplica:SleepyPid&state=DEAD");
        Assert.Equal(4, dead.Count);

        Assert.Equal(200, (await app.PutConfigAsync(Config(6))).Status);
        var back = await ServeApp.WaitUntilAsync(() => app.ReplicasAsync(), r => r.Count == 6 && r.All(x => x.State == "RUNNING"), TimeSpan.FromSeconds(60), "scale up to 6");
        Assert.All(back.GroupBy(r => r.NodeId), g => Assert.Equal(2, g.Count()));
        output.WriteLine($"scaled 6 → 2 → 6; final replicas: {string.Join(", ", back.Select(r => $"{r.NodeId}:{r.Pid}"))}");
    }

    [Fact]
    public async Task UnknownRoute_Is404_DeploymentWithoutRunningReplica_Is503WithRetryAfter_AndDeleteRemovesAll()
    {
        await using var app = await ServeApp.StartAsync();
        await ServeApp.WaitUntilAsync(() => app.ReplicasAsync(), r => r.Count(x => x.State == "RUNNING") == 6, TimeSpan.FromSeconds(90), "6 RUNNING");

        var extra = """
              - name: other
                route_prefix: /other
                import_path: Samples:SleepyPid
                deployments: [ { name: SleepyPid, num_replicas: 1 } ]
            """;
        var (status, body) = await app.PutConfigAsync(Config(6, "/sleepy", extra));
        Assert.True(status == 200, body);
        await ServeApp.WaitUntilAsync(() => app.Http.GetStringAsync(new Uri(app.Proxy(0), "/-/routes")),
            r => r == """{"/other":"other","/sleepy":"sleepy"}""", TimeSpan.FromSeconds(15), "new routes at proxy-0");

        // The new app's only replica sleeps 10 s in its constructor: until then the route has no replica.
        using (var starting = await app.Http.GetAsync(new Uri(app.Proxy(0), "/other")))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, starting.StatusCode);
            Assert.Equal("1", starting.Headers.RetryAfter?.ToString());
            Assert.Contains("has no running replica", JsonNode.Parse(await starting.Content.ReadAsStringAsync())!["error"]!.GetValue<string>());
        }

        using (var unknown = await app.Http.GetAsync(new Uri(app.Proxy(1), "/nowhere")))
        {
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
            Assert.Equal("application/json", unknown.Content.Headers.ContentType?.MediaType);
            Assert.Contains("Path '/nowhere' not found", JsonNode.Parse(await unknown.Content.ReadAsStringAsync())!["error"]!.GetValue<string>());
        }

        Assert.NotNull(await app.PidThroughProxyAsync(1, "/sleepy"));
        await ServeApp.WaitUntilAsync(() => app.PidThroughProxyAsync(0, "/other"), pid => pid is not null, TimeSpan.FromSeconds(40), "/other answering once its replica runs");

        using (var delete = await app.Http.DeleteAsync(new Uri(app.Controller, "/api/serve/applications/")))
            Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
        await ServeApp.WaitUntilAsync(() => app.ActorsAsync("?state=ALIVE"), a => a.All(x => !x!["class_name"]!.GetValue<string>().StartsWith("ServeReplica")),
            TimeSpan.FromSeconds(60), "every replica stopped after DELETE");
        Assert.Equal("{}", await app.Http.GetStringAsync(new Uri(app.Proxy(0), "/-/routes")));
    }
}
