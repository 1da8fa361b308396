using System.Net;
using System.Text.Json.Nodes;
using ServeAspire.EndToEndTests.Failures;
using ServeAspire.EndToEndTests.Infrastructure;
using Xunit.Abstractions;

namespace ServeAspire.EndToEndTests.DataPath;

/// <summary>The proxy's request semantics on real processes: timeouts, backpressure, mid-flight replica death.</summary>
public sealed class ProxyDataPathTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Timeout408_Backpressure503_MidFlightDeath_RetriesGetButNotPost()
    {
        await using var app = await ServeApp.StartAsync();
        const string apps = """
            applications:
              - name: slow
                route_prefix: /slow
                import_path: Samples:Slow
                deployments: [ { name: Slow, num_replicas: 2, max_ongoing_requests: 1, max_queued_requests: 1 } ]
              - name: post
                route_prefix: /post
                import_path: Samples:Slow
                deployments: [ { name: Slow, num_replicas: 2, max_ongoing_requests: 10 } ]
            """;
        // 4 s: the burst below needs 1.6 s (a queued request behind a 0.8 s one); the margin is for a CPU shared with other runs.
        var (status, body) = await app.PutConfigAsync("http_options: { request_timeout_s: 4 }\n" + apps);
        Assert.True(status == 200, body);
        await FailureScenario.RunningAsync(app, 2, "slow", "Slow");
        await FailureScenario.RunningAsync(app, 2, "post", "Slow");

        // request_timeout_s → 408 with a JSON reason.
        using (var slow = await app.Http.GetAsync(new Uri(app.Proxy(0), "/slow?ms=5000")))
        {
            Assert.True(slow.StatusCode == HttpStatusCode.RequestTimeout, $"expected 408, got {(int)slow.StatusCode}: {await slow.Content.ReadAsStringAsync()}");
            Assert.Contains("request_timeout_s=4", JsonNode.Parse(await slow.Content.ReadAsStringAsync())!["error"]!.GetValue<string>());
        }

        // Backpressure: 2 replicas × max_ongoing_requests 1, queue of 1 → of 5 concurrent requests, 3 fit, 2 are refused
        // (0.8 s each: the queued one still ends within request_timeout_s).
        var burst = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => app.Http.GetAsync(new Uri(app.Proxy(1), "/slow?ms=800"))));
        var refused = burst.Where(r => r.StatusCode == HttpStatusCode.ServiceUnavailable).ToList();
        var burstCodes = string.Join(", ", burst.Select(r => (int)r.StatusCode));
        output.WriteLine($"burst of 5: {burstCodes}");
        // Messages carry the whole outcome: CI logs show no stack or output of a failed test.
        Assert.True(refused.Count == 2, $"burst of 5: {burstCodes}; expected exactly 2 × 503");
        Assert.True(burst.Count(r => r.StatusCode == HttpStatusCode.OK) == 3, $"burst of 5: {burstCodes}; expected exactly 3 × 200");
        Assert.All(refused, r => Assert.Equal("1", r.Headers.RetryAfter?.ToString()));
        Assert.Contains("max_queued_requests=1", await refused[0].Content.ReadAsStringAsync());
        foreach (var r in burst) r.Dispose();

        // A replica dies with requests in flight: the GETs are replayed on the other replica, the POSTs get 502.
        var (putStatus, putBody) = await app.PutConfigAsync("http_options: { request_timeout_s: 30 }\n" + apps);
        Assert.True(putStatus == 200, $"PUT config: {putStatus} {putBody}");
        // The proxy has the new table once a 4.5 s request (over the old 4 s limit) succeeds.
        await ServeApp.WaitUntilAsync(async () => (await app.Http.GetAsync(new Uri(app.Proxy(0), "/post?ms=4500"))).StatusCode, s => s == HttpStatusCode.OK,
            TimeSpan.FromSeconds(30), "proxy-0 to apply request_timeout_s: 30");
        var replicas = await app.ReplicasAsync("post", "Slow");
        var gets = Enumerable.Range(0, 4).Select(_ => app.Http.GetAsync(new Uri(app.Proxy(0), "/post?ms=3000"))).ToList();
        var posts = Enumerable.Range(0, 4).Select(_ => app.Http.PostAsync(new Uri(app.Proxy(0), "/post?ms=3000"), new StringContent("payload"))).ToList();
        // Kill once all 8 requests are in flight on the two replicas (asked of the replicas themselves), the victim
        // holding at least one GET and one POST: from then on no request can still arrive at the victim, so what
        // it holds is what the kill interrupts (a count taken earlier could miss a POST that arrived after it).
        var victimAddress = (await app.ActorsAsync($"?actor_id={Uri.EscapeDataString(replicas[0].ReplicaId)}"))[0]!["address"]!.GetValue<string>();
        var otherAddress = (await app.ActorsAsync($"?actor_id={Uri.EscapeDataString(replicas[1].ReplicaId)}"))[0]!["address"]!.GetValue<string>();
        async Task<JsonNode> InflightAsync(string address) => JsonNode.Parse(await app.Http.GetStringAsync(new Uri(new Uri(address), "/?inflight")))!;
        static int Total(JsonNode n) => n["get"]!.GetValue<int>() + n["post"]!.GetValue<int>();
        var (held, other) = await ServeApp.WaitUntilAsync(async () => (Victim: await InflightAsync(victimAddress), Other: await InflightAsync(otherAddress)),
            n => n.Victim["get"]!.GetValue<int>() >= 1 && n.Victim["post"]!.GetValue<int>() >= 1 && Total(n.Victim) + Total(n.Other) == 8,
            TimeSpan.FromSeconds(10), "all 8 requests in flight, a GET and a POST of them on the victim");
        output.WriteLine($"the other replica holds {other.ToJsonString()}");
        output.WriteLine($"victim holds {held.ToJsonString()} when killed");
        var victim = replicas[0].Pid!.Value;
        FailureScenario.Kill(victim);
        var getResults = await Task.WhenAll(gets);
        var postResults = await Task.WhenAll(posts);
        output.WriteLine($"GETs: {string.Join(", ", getResults.Select(r => (int)r.StatusCode))}; POSTs: {string.Join(", ", postResults.Select(r => (int)r.StatusCode))}");
        foreach (var r in postResults) output.WriteLine($"POST → {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
        Assert.All(getResults, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.All(await Task.WhenAll(getResults.Select(r => r.Content.ReadAsStringAsync())), pid => Assert.NotEqual(victim.ToString(System.Globalization.CultureInfo.InvariantCulture), pid));
        var failedPosts = postResults.Where(r => r.StatusCode == HttpStatusCode.BadGateway).ToList();
        // Exactly the ones that were on the victim.
        Assert.True(held["post"]!.GetValue<int>() == failedPosts.Count,
            $"victim held {held.ToJsonString()}; POSTs: {string.Join(", ", postResults.Select(r => (int)r.StatusCode))}");
        Assert.All(postResults, r => Assert.Contains(r.StatusCode, new[] { HttpStatusCode.OK, HttpStatusCode.BadGateway }));
        Assert.Contains("not safe to replay", await failedPosts[0].Content.ReadAsStringAsync());
    }
}
