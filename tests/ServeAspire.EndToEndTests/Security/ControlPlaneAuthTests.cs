using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using ServeAspire.EndToEndTests.Infrastructure;
using Xunit.Abstractions;

namespace ServeAspire.EndToEndTests.Security;

/// <summary>
/// The control plane answers only the cluster token; health endpoints and the data path stay open;
/// user code sees no credential. Refused calls change nothing: same leader, same replicas.
/// </summary>
[Collection(SharedServeAppCollection.Name)]
public sealed class ControlPlaneAuthTests(SharedServeApp fixture, ITestOutputHelper output)
{
    private ServeApp App => fixture.App;

    private static readonly (HttpMethod Method, string Path)[] ControllerCalls =
    [
        (HttpMethod.Get, "/api/serve/applications/"), (HttpMethod.Put, "/api/serve/applications/"), (HttpMethod.Delete, "/api/serve/applications/"),
        (HttpMethod.Get, "/api/actors"), (HttpMethod.Post, "/api/actors/SERVE_CONTROLLER_ACTOR/kill"), (HttpMethod.Get, "/api/nodes"), (HttpMethod.Get, "/api/controller/status"), (HttpMethod.Get, "/api/ray/version"),
    ];

    private async Task<(IReadOnlyList<ReplicaView> Replicas, int LeaderPid)> SnapshotAsync()
    {
        var replicas = await ServeApp.WaitUntilAsync(() => App.ReplicasAsync(), r => r.Count(x => x.State == "RUNNING") == 6, TimeSpan.FromSeconds(60), "6 RUNNING");
        return (replicas, (await App.LeaderAsync(TimeSpan.FromSeconds(30))).Pid);
    }

    private async Task AssertUnchangedAsync((IReadOnlyList<ReplicaView> Replicas, int LeaderPid) before)
    {
        var after = await SnapshotAsync();
        Assert.Equal(before.LeaderPid, after.LeaderPid);
        Assert.Equal(before.Replicas.Select(r => (r.ReplicaId, r.Pid)).Order(), after.Replicas.Select(r => (r.ReplicaId, r.Pid)).Order());
    }

    private static async Task<(HttpStatusCode Status, string Error, string? Challenge)> CallAsync(HttpClient http, HttpMethod method, Uri uri, string? bearer)
    {
        using var request = new HttpRequestMessage(method, uri);
        if (method == HttpMethod.Put || method == HttpMethod.Post) request.Content = new StringContent("applications: []");
        if (bearer is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        var error = response.StatusCode == HttpStatusCode.Unauthorized ? JsonNode.Parse(body)!["error"]!.GetValue<string>() : body;
        return (response.StatusCode, error, response.Headers.WwwAuthenticate.ToString());
    }

    [Fact]
    public async Task ControllerApi_WithoutOrWithAWrongToken_Is401WithAReason_OnBothInstancesAndTheSharedPort_AndChangesNothing()
    {
        var before = await SnapshotAsync();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var calls = 0;
        foreach (var baseUri in new[] { App.Controller, App.ControllerInstance(0), App.ControllerInstance(1) })
            foreach (var (method, path) in ControllerCalls)
            {
                var missing = await CallAsync(http, method, new Uri(baseUri, path), bearer: null);
                Assert.True(missing.Status == HttpStatusCode.Unauthorized, $"{method} {baseUri}{path} without a token: {(int)missing.Status} {missing.Error}");
                Assert.Contains("missing credentials", missing.Error);
                Assert.Contains("Bearer", missing.Challenge);
                var wrong = await CallAsync(http, method, new Uri(baseUri, path), bearer: App.Token[..^1] + (App.Token[^1] == 'a' ? 'b' : 'a'));
                Assert.True(wrong.Status == HttpStatusCode.Unauthorized, $"{method} {baseUri}{path} with a wrong token: {(int)wrong.Status}");
                Assert.Contains("the bearer token was refused", wrong.Error);
                Assert.Equal(HttpStatusCode.Unauthorized, await BasicAsync(http, method, new Uri(baseUri, path)));
                calls += 3;
            }
        output.WriteLine($"{calls} unauthenticated control-plane calls, all 401");
        // The right token is accepted on the same paths (so the 401s above are about the token, not the route).
        Assert.Equal(HttpStatusCode.OK, (await CallAsync(http, HttpMethod.Get, new Uri(App.Controller, "/api/serve/applications/"), App.Token)).Status);
        await AssertUnchangedAsync(before);
    }

    /// <summary>The kill API refuses what it cannot do, says why, and kills nothing.</summary>
    [Fact]
    public async Task KillApi_UnknownNameOrBadBody_IsRefusedWithTheReason_AndKillsNothing()
    {
        var before = await SnapshotAsync();
        var proxies = (await App.ActorsAsync("?class_name=ProxyActor&state=ALIVE")).Select(a => a!["pid"]!.GetValue<int>()).Order().ToList();
        Assert.Equal(2, proxies.Count); // precondition: both proxies listed, so an unwanted kill would show
        var replica = before.Replicas[0].ReplicaId;
        (string Name, string? Body, HttpStatusCode Status, string Message)[] cases =
        [
            ("no-such-actor", null, HttpStatusCode.NotFound, "no live actor named 'no-such-actor'"),
            (replica, """{"no_restart": "yes"}""", HttpStatusCode.BadRequest, "no_restart must be true or false"),
            (replica, """{"norestart": true}""", HttpStatusCode.BadRequest, "unknown field 'norestart'"),
            (replica, "not json", HttpStatusCode.BadRequest, "the body is not JSON"),
            ("proxy-0", """{"no_restart": true}""", HttpStatusCode.BadRequest, "no_restart=true applies to replicas only"),
        ];
        foreach (var (name, body, status, message) in cases)
        {
            using var response = await App.Http.PostAsync(new Uri(App.Controller, $"/api/actors/{name}/kill"),
                body is null ? null : new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == status, $"kill {name} with {body ?? "no body"}: {(int)response.StatusCode} {text}");
            Assert.Contains(message, JsonNode.Parse(text)!["error"]!.GetValue<string>());
        }
        await AssertUnchangedAsync(before);
        Assert.Equal(proxies, (await App.ActorsAsync("?class_name=ProxyActor&state=ALIVE")).Select(a => a!["pid"]!.GetValue<int>()).Order().ToList());
    }

    private static async Task<HttpStatusCode> BasicAsync(HttpClient http, HttpMethod method, Uri uri)
    {
        using var request = new HttpRequestMessage(method, uri);
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String("admin:admin"u8.ToArray()));
        using var response = await http.SendAsync(request);
        return response.StatusCode;
    }

    [Fact]
    public async Task HealthEndpointsAndTheDataPath_StayOpen()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        foreach (var i in new[] { 0, 1 })
        {
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri(App.ControllerInstance(i), "/health"))).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri(App.ControllerInstance(i), "/alive"))).StatusCode);
            Assert.Equal("success", await http.GetStringAsync(new Uri(App.Proxy(i), "/-/healthz")));
            Assert.True(int.TryParse(await http.GetStringAsync(App.Proxy(i)), out _));
        }
    }

    [Fact]
    public async Task NodeAgentApi_RequiresTheClusterToken_AndStartsAndStopsAlsoTheLeaderToken()
    {
        var before = await SnapshotAsync();
        var nodes = (await App.GetJsonAsync("/api/nodes"))["nodes"]!.AsArray().Where(n => n!["state"]!.GetValue<string>() == "ALIVE").ToList();
        Assert.Equal(3, nodes.Count);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var victim = before.Replicas[0];
        foreach (var node in nodes)
        {
            var address = new Uri(node!["address"]!.GetValue<string>());
            foreach (var (method, path) in new[] { (HttpMethod.Get, "/replicas"), (HttpMethod.Post, "/replicas"), (HttpMethod.Delete, $"/replicas/{victim.ReplicaId}") })
            {
                var (status, error, _) = await CallAsync(http, method, new Uri(address, path), bearer: null);
                Assert.True(status == HttpStatusCode.Unauthorized, $"{method} {address}{path} without a token: {(int)status} {error}");
                Assert.Contains("missing credentials", error);
            }
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri(address, "/health"))).StatusCode);

            // The cluster token alone does not let anyone but the leader stop a replica: no fencing token, 409.
            using var stop = new HttpRequestMessage(HttpMethod.Delete, new Uri(address, $"/replicas/{victim.ReplicaId}"));
            stop.Headers.Authorization = new AuthenticationHeaderValue("Bearer", App.Token);
            using var refused = await http.SendAsync(stop);
            Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
            Assert.Contains("fencing token", await refused.Content.ReadAsStringAsync());
        }
        await AssertUnchangedAsync(before);
        Assert.True(ServeApp.ProcessExists(victim.Pid!.Value));
    }

    [Fact]
    public async Task TheTokenFile_IsMode600_AndReplicaProcesses_SeeNoCredential()
    {
        var file = Path.Combine(App.StateDir, "auth_token");
        if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        var redisPassword = (await File.ReadAllTextAsync(Path.Combine(App.StateDir, "redis.conf"))).Split('\n').First(l => l.StartsWith("requirepass")).Split('"')[1];
        var (replicas, _) = await SnapshotAsync();
        foreach (var replica in replicas)
        {
            var environ = (await File.ReadAllTextAsync($"/proc/{replica.Pid}/environ")).Split('\0', StringSplitOptions.RemoveEmptyEntries);
            Assert.NotEmpty(environ);
            Assert.DoesNotContain(environ, e => e.Contains(App.Token) || e.Contains(redisPassword) || e.StartsWith("ConnectionStrings", StringComparison.OrdinalIgnoreCase) ||
                e.StartsWith("SERVE_AUTH_TOKEN", StringComparison.Ordinal) || e.StartsWith("OTEL_EXPORTER_OTLP_HEADERS", StringComparison.Ordinal) || e.StartsWith("Node__", StringComparison.Ordinal));
        }
        output.WriteLine($"checked the environment of {replicas.Count} replica processes");
    }
}
