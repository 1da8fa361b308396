using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace ServeAspire.AppHost.Dashboard;

/// <summary>
/// The AppHost's own client of the control plane: the controllers' REST API (shared port, token required)
/// and each instance's <c>/api/controller/status</c>. Used by the replica resources and the failure drills.
/// </summary>
internal sealed class ServeApiClient(ServeOptions serve, Func<CancellationToken, ValueTask<string?>> token) : IDisposable
{
    private readonly HttpClient _http = new(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(2) }) { Timeout = TimeSpan.FromSeconds(10) };

    public Uri Controller { get; } = new(serve.ControllerUrl);

    /// <summary>Controller instance i's own address (its health port).</summary>
    public Uri ControllerInstance(int i) => new($"http://127.0.0.1:{serve.ControllerPort + 1 + i}");

    public int Controllers => serve.Controllers;

    public Task<JsonNode?> ApplicationsAsync(CancellationToken ct) => GetJsonAsync(Controller, "/api/serve/applications/", ct);

    public Task<JsonNode?> ActorsAsync(CancellationToken ct) => GetJsonAsync(Controller, "/api/actors", ct);

    public Task<JsonNode?> NodesAsync(CancellationToken ct) => GetJsonAsync(Controller, "/api/nodes", ct);

    /// <summary>One instance's view of itself, or null when it does not answer.</summary>
    public async Task<JsonNode?> ControllerStatusAsync(int i, CancellationToken ct)
    {
        try { return await GetJsonAsync(ControllerInstance(i), "/api/controller/status", ct); }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested) { return null; }
    }

    /// <summary><c>POST /api/actors/{name}/kill</c> (Ray's <c>ray.kill</c>); the status and body.</summary>
    public Task<(HttpStatusCode Status, string Body)> KillActorAsync(string name, bool noRestart, CancellationToken ct) =>
        SendAsync(HttpMethod.Post, $"/api/actors/{Uri.EscapeDataString(name)}/kill",
            new StringContent(new JsonObject { ["no_restart"] = noRestart }.ToJsonString(), Encoding.UTF8, "application/json"), ct);

    /// <summary>The PUT <c>serve deploy</c> makes: replaces the whole config (YAML or JSON).</summary>
    public Task<(HttpStatusCode Status, string Body)> PutConfigAsync(string config, string mediaType, CancellationToken ct) =>
        SendAsync(HttpMethod.Put, "/api/serve/applications/", new StringContent(config, Encoding.UTF8, mediaType), ct);

    private async Task<JsonNode?> GetJsonAsync(Uri baseUri, string path, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(baseUri, path));
        await AuthorizeAsync(request, ct);
        using var response = await _http.SendAsync(request, ct);
        var body = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode) throw new HttpRequestException($"GET {path}: {(int)response.StatusCode} {body}", null, response.StatusCode);
        return JsonNode.Parse(body);
    }

    private async Task<(HttpStatusCode, string)> SendAsync(HttpMethod method, string path, HttpContent content, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, new Uri(Controller, path)) { Content = content };
        await AuthorizeAsync(request, ct);
        using var response = await _http.SendAsync(request, ct);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(ct));
    }

    private async Task AuthorizeAsync(HttpRequestMessage request, CancellationToken ct)
    {
        if (await token(ct) is { Length: > 0 } t) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", t);
    }

    public void Dispose() => _http.Dispose();
}
