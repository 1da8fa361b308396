using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ServeAspire.EndToEndTests.Infrastructure;
using Xunit.Abstractions;

namespace ServeAspire.EndToEndTests.Foundation;

/// <summary>
/// The Prometheus endpoints on a running system: the proxy's open /-/metrics counts the requests sent
/// through it under Ray's names and tags; the controllers' and node agents' /metrics answer only the
/// cluster token (docs/observability.md).
/// </summary>
[Collection(SharedServeAppCollection.Name)]
public sealed partial class MetricsTests(SharedServeApp fixture, ITestOutputHelper output)
{
    private ServeApp App => fixture.App;
    private const int N = 40;

    private sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    [GeneratedRegex(@"(\w+)=""((?:[^""\\]|\\.)*)""")]
    private static partial Regex LabelPattern();

    /// <summary>Parses the Prometheus text format: name{labels} value [timestamp].</summary>
    private static List<Sample> Parse(string text)
    {
        var samples = new List<Sample>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            var brace = line.IndexOf('{', StringComparison.Ordinal);
            var close = line.LastIndexOf('}');
            var name = brace < 0 ? line[..line.IndexOf(' ', StringComparison.Ordinal)] : line[..brace];
            var labels = new Dictionary<string, string>();
            if (brace >= 0)
                foreach (Match m in LabelPattern().Matches(line[(brace + 1)..close]))
                    labels[m.Groups[1].Value] = m.Groups[2].Value;
            var rest = (brace < 0 ? line[name.Length..] : line[(close + 1)..]).Trim().Split(' ')[0];
            samples.Add(new Sample(name, labels, double.Parse(rest, CultureInfo.InvariantCulture)));
        }
        return samples;
    }

    private static double Sum(IEnumerable<Sample> samples, string name, params (string Key, string Value)[] match) =>
        samples.Where(s => s.Name == name && match.All(m => s.Labels.TryGetValue(m.Key, out var v) && v == m.Value)).Sum(s => s.Value);

    private async Task<List<Sample>> ScrapeProxyAsync()
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) }; // no token: the proxy's endpoint is open
        using var response = await client.GetAsync(new Uri(App.Proxy(0), "/-/metrics"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return Parse(await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task ProxyMetrics_CountTheRequestsSentThroughIt_UnderRaysNamesAndTags()
    {
        await ServeApp.WaitUntilAsync(() => App.ReplicasAsync(), r => r.Count(x => x.State == "RUNNING") == 6, TimeSpan.FromSeconds(60), "6 RUNNING replicas");
        var ok = new[] { ("route", "/"), ("method", "GET"), ("application", "sleepy"), ("status_code", "200") };
        var before = await ScrapeProxyAsync();
        var requestsBefore = Sum(before, "serve_num_http_requests_total", ok);
        var latencyBefore = Sum(before, "serve_http_request_latency_ms_count", ("route", "/"), ("application", "sleepy"), ("status_code", "200"));
        var replicaBefore = Sum(before, "serve_deployment_request_counter_total", ("deployment", "SleepyPid"), ("route", "/"), ("application", "sleepy"));

        for (var i = 0; i < N; i++) Assert.NotNull(await App.PidThroughProxyAsync(0));

        var after = await ServeApp.WaitUntilAsync(ScrapeProxyAsync,
            s => Sum(s, "serve_num_http_requests_total", ok) >= requestsBefore + N, TimeSpan.FromSeconds(15), $"serve_num_http_requests_total to grow by {N}");
        output.WriteLine($"serve_num_http_requests_total{{route=\"/\",status_code=\"200\"}}: {requestsBefore} → {Sum(after, "serve_num_http_requests_total", ok)}");
        Assert.True(Sum(after, "serve_http_request_latency_ms_count", ("route", "/"), ("application", "sleepy"), ("status_code", "200")) >= latencyBefore + N);
        Assert.True(Sum(after, "serve_deployment_request_counter_total", ("deployment", "SleepyPid"), ("route", "/"), ("application", "sleepy")) >= replicaBefore + N);

        // The per-replica series carry the replica's id, and the requests went to several replicas.
        var perReplica = after.Where(s => s.Name == "serve_deployment_processing_latency_ms_count" && s.Labels.GetValueOrDefault("deployment") == "SleepyPid").ToList();
        Assert.True(perReplica.Count >= 2, $"{perReplica.Count} replicas in serve_deployment_processing_latency_ms");
        Assert.All(perReplica, s => Assert.Matches("^[a-z0-9]{8}$", s.Labels["replica"]));
        Assert.Contains(after, s => s.Name == "serve_http_request_latency_ms_bucket" && s.Labels.GetValueOrDefault("le") == "600000");
        Assert.Contains(after, s => s.Name == "serve_num_ongoing_http_requests" && s.Labels.GetValueOrDefault("node_id") == "proxy-0");
        Assert.Equal(6, after.Count(s => s.Name == "serve_replica_processing_queries" && s.Labels.GetValueOrDefault("deployment") == "SleepyPid"));
        Assert.Contains(after, s => s.Name == "serve_deployment_queued_queries" && s.Labels.GetValueOrDefault("application") == "sleepy");
    }

    [Fact]
    public async Task ControlPlaneMetrics_AnswerOnlyTheClusterToken_AndTheLeaderReportsItsReplicas()
    {
        var (leader, _) = await App.LeaderAsync(TimeSpan.FromSeconds(60));
        var url = new Uri(App.ControllerInstance(leader), "/metrics");
        using (var anonymous = new HttpClient { Timeout = TimeSpan.FromSeconds(10) })
        {
            using var refused = await anonymous.GetAsync(url);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            using var wrong = new HttpRequestMessage(HttpMethod.Get, url) { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", "not-the-token") } };
            using var refusedWrong = await anonymous.SendAsync(wrong);
            Assert.Equal(HttpStatusCode.Unauthorized, refusedWrong.StatusCode);
        }

        async Task<List<Sample>> ScrapeLeaderAsync() => Parse(await App.Http.GetStringAsync(url)); // App.Http carries the token
        var first = await ScrapeLeaderAsync();
        var loops = Sum(first, "serve_controller_num_control_loops_total");
        var samples = await ServeApp.WaitUntilAsync(ScrapeLeaderAsync,
            s => Sum(s, "serve_controller_num_control_loops_total") > loops &&
                 s.Count(x => x.Name == "serve_deployment_replica_healthy" && x.Labels.GetValueOrDefault("deployment") == "SleepyPid" && x.Value == 1) == 6,
            TimeSpan.FromSeconds(30), "the leader's control loop to tick and report 6 healthy SleepyPid replicas");
        Assert.Equal(1, Sum(samples, "serve_controller_is_leader"));
        Assert.Contains(samples, s => s.Name == "serve_controller_control_loop_duration_s");
        Assert.True(Sum(samples, "serve_controller_leader_changes_total", ("change", "acquired")) >= 1);
        Assert.Contains(samples, s => s.Name == "serve_controller_fenced_writes_total" && s.Labels.GetValueOrDefault("refused_by") == "store");
        Assert.All(samples.Where(s => s.Name == "serve_deployment_replica_healthy"), s => Assert.Equal("sleepy", s.Labels["application"]));

        // A node agent: the same token, the same answer.
        var nodes = JsonNode.Parse(await App.Http.GetStringAsync(new Uri(App.Controller, "/api/nodes")))!["nodes"]!.AsArray();
        var address = nodes.First(n => n!["state"]!.GetValue<string>() == "ALIVE")!["address"]!.GetValue<string>();
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using (var refused = await client.GetAsync(new Uri(new Uri(address), "/metrics")))
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(new Uri(address), "/metrics")) { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", App.Token) } };
        using var answered = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
        var nodeSamples = Parse(await answered.Content.ReadAsStringAsync());
        Assert.True(Sum(nodeSamples, "serve_node_replicas", ("state", "RUNNING")) >= 1, "a node runs at least one of the 6 replicas on 3 nodes");
        Assert.Contains(nodeSamples, s => s.Name == "serve_node_fenced_requests_total");
    }
}
