using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using ServeAspire.EndToEndTests.Foundation;
using ServeAspire.EndToEndTests.Infrastructure;
using Xunit.Abstractions;

namespace ServeAspire.EndToEndTests.Security;

/// <summary>
/// Hostile configs, one per class, sent to the real controller: each gets a 400 that names the field
/// (413 for a body too large), the leading controller is the same process afterwards, and the
/// running replicas are the same processes.
/// </summary>
[Collection(SharedServeAppCollection.Name)]
public sealed class HostileConfigTests(SharedServeApp fixture, ITestOutputHelper output)
{
    private ServeApp App => fixture.App;

    private static string App1(string deployment, string extra = "") => $$"""
        applications:
          - name: sleepy
            route_prefix: /
            import_path: Samples:SleepyPid
            {{extra}}
            deployments:
              - name: SleepyPid
                {{deployment}}
        """;

    private static string AliasBomb()
    {
        var sb = new StringBuilder("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
        for (var i = 1; i < 9; i++)
        {
            var prev = (char)('a' + i - 1);
            sb.Append($"{(char)('a' + i)}: &{(char)('a' + i)} [{string.Join(',', Enumerable.Repeat("*" + prev, 10))}]\n");
        }
        return sb.Append("applications: *i\n").ToString();
    }

    public static TheoryData<string, string, string, string> Cases => new()
    {
        // class, config, expected loc (substring), expected message (substring)
        { "alias to itself (list)", "applications: &x [*x]", "applications[0]", "refers to a node that contains it" },
        { "alias to itself (mapping)", "applications:\n  - &app {name: a, import_path: 'Samples:SleepyPid', deployments: [*app]}", "applications[0].deployments[0]", "refers to a node that contains it" },
        { "alias expansion bomb", AliasBomb(), "", "would grow the config past" },
        { "JSON nested 10,000 deep", new string('[', 10_000) + new string(']', 10_000), "[0][0][0]", "levels deep" },
        { "YAML nested 5,000 deep", "applications: " + new string('[', 5_000) + new string(']', 5_000), "applications[0][0]", "levels deep" },
        { "num_replicas above the cluster cap", App1("num_replicas: 100000"), "applications[0].deployments[0].num_replicas", "between 1 and 1000" },
        { "num_replicas far out of int range", App1("num_replicas: 99999999999999999999"), "applications[0].deployments[0].num_replicas", "between 1 and 1000" },
        { "auto: initial_replicas 2,000,000,000", App1("num_replicas: auto\n        autoscaling_config: {min_replicas: 1, max_replicas: 10, initial_replicas: 2000000000}"), "applications[0].deployments[0].autoscaling_config.initial_replicas", "must be between 1 and 10 (got 2000000000)" },
        { "auto: initial_replicas -5", App1("num_replicas: auto\n        autoscaling_config: {min_replicas: 1, max_replicas: 10, initial_replicas: -5}"), "applications[0].deployments[0].autoscaling_config.initial_replicas", "must be between 1 and 10 (got -5)" },
        { "max_ongoing_requests 0", App1("max_ongoing_requests: 0"), "applications[0].deployments[0].max_ongoing_requests", "between" },
        { "max_queued_requests 0", App1("max_queued_requests: 0"), "applications[0].deployments[0].max_queued_requests", "between 1 and 1000000" },
        { "health_check_timeout_s 1e9", App1("health_check_timeout_s: 1000000000"), "applications[0].deployments[0].health_check_timeout_s", "at most 3600" },
        { "graceful_shutdown_timeout_s -1", App1("graceful_shutdown_timeout_s: -1"), "applications[0].deployments[0].graceful_shutdown_timeout_s", "between 0 and 3600" },
        { "request_timeout_s 0", "http_options: {request_timeout_s: 0}\n" + App1("num_replicas: 6"), "http_options.request_timeout_s", "at most 3600" },
        { "replicas over all applications above the cap",
          "applications:\n  - {name: a, route_prefix: /a, import_path: 'Samples:SleepyPid', deployments: [{name: SleepyPid, num_replicas: 600}]}\n  - {name: b, route_prefix: /b, import_path: 'Samples:SleepyPid', deployments: [{name: SleepyPid, num_replicas: 600}]}",
          "applications", "1000" },
        { "import_path with ../", "applications:\n  - {name: x, import_path: '../../../../tmp/Evil:Evil'}", "applications[0].import_path", "not a path" },
        { "import_path rooted", "applications:\n  - {name: x, import_path: '/usr/lib/dotnet/Evil:Evil'}", "applications[0].import_path", "not a path" },
        { "import_path rooted at a real .dll", "applications:\n  - {name: x, import_path: '" + typeof(HostileConfigTests).Assembly.Location.Replace(".dll", "") + ":X'}", "applications[0].import_path", "not a path" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task HostileConfig_Is400NamingTheField_AndTheLeaderAndReplicasAreUntouched(string kind, string config, string loc, string message)
    {
        var replicasBefore = await ServeApp.WaitUntilAsync(() => App.ReplicasAsync(), r => r.Count(x => x.State == "RUNNING") == 6, TimeSpan.FromSeconds(60), "6 RUNNING");
        var (_, leaderBefore) = await App.LeaderAsync(TimeSpan.FromSeconds(30));
        var configBefore = (await App.GetJsonAsync("/api/serve/applications/"))["applications"]!.ToJsonString();

        var sw = Stopwatch.StartNew();
        var (status, body) = await App.PutConfigAsync(config);
        output.WriteLine($"{kind}: {status} in {sw.ElapsedMilliseconds} ms: {(body.Length > 400 ? body[..400] + "…" : body)}");
        Assert.Equal(400, status);
        var errors = JsonNode.Parse(body)!["errors"]!.AsArray();
        Assert.Contains(errors, e => e!["loc"]!.GetValue<string>().Contains(loc, StringComparison.Ordinal) &&
            e["msg"]!.GetValue<string>().Contains(message, StringComparison.Ordinal));

        // Same leader process, same replica processes, same config.
        Assert.Equal(leaderBefore, (await App.LeaderAsync(TimeSpan.FromSeconds(5))).Pid);
        var replicasAfter = await App.ReplicasAsync();
        Assert.Equal(replicasBefore.Select(r => (r.ReplicaId, r.Pid)).Order(), replicasAfter.Select(r => (r.ReplicaId, r.Pid)).Order());
        Assert.All(replicasAfter, r => Assert.True(ServeApp.ProcessExists(r.Pid!.Value)));
        Assert.Equal(configBefore, (await App.GetJsonAsync("/api/serve/applications/"))["applications"]!.ToJsonString());
    }

    [Fact]
    public async Task ABodyOverOneMebibyte_Is413_BeforeParsing()
    {
        var (_, leaderBefore) = await App.LeaderAsync(TimeSpan.FromSeconds(30));
        var (status, body) = await App.PutConfigAsync("# " + new string('x', 1 << 21));
        Assert.Equal(413, status);
        Assert.Contains("larger than", body);
        Assert.Equal(leaderBefore, (await App.LeaderAsync(TimeSpan.FromSeconds(5))).Pid);
    }
}
