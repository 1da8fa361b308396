using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using ServeAspire.Security;

namespace ServeAspire.Cli;

/// <summary>
/// Calls the controller's REST API with the cluster token, turning what goes wrong in transport or
/// authentication into one clear <see cref="CliException"/>. The token is sent, never printed.
/// </summary>
internal sealed class ControllerClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly string? _token;
    private readonly string _tried;
    private readonly string? _source;
    private readonly TimeSpan _timeout;

    public string Address { get; }

    public ControllerClient(CliContext context, GlobalSettings settings)
    {
        var address = settings.Address ?? context.Environment(CliContext.AddressVariable) ?? CliContext.DefaultAddress;
        if (!GlobalSettings.IsHttpUrl(address))
            throw new CliException(ExitCodes.Usage, $"{CliContext.AddressVariable} must be an http:// or https:// URL, not '{address}'");
        Address = address.TrimEnd('/');
        _token = ClusterToken.FindForClient(context.Environment, context.StateDirectory, out _tried);
        // Which source it came from, by name only: the variable, else the first file tried that holds one.
        _source = _token is null ? null
            : !string.IsNullOrWhiteSpace(context.Environment(ClusterToken.EnvVariable)) ? ClusterToken.EnvVariable
            : _tried.Split(", ").Skip(1).FirstOrDefault(f => File.Exists(f) && File.ReadAllText(f).Trim().Length > 0);
        _timeout = context.Timeout;
        _http = new HttpClient(context.CreateHandler()) { Timeout = Timeout.InfiniteTimeSpan };
    }

    public sealed record Response(HttpStatusCode Status, string Body)
    {
        public bool IsSuccess => (int)Status is >= 200 and < 300;
        public JsonNode? Json => TryParse(Body);
        /// <summary>The server's <c>error</c> field, else its body, else the status.</summary>
        public string Error => Json is JsonObject o && o["error"] is JsonValue e ? e.ToString() : Body.Length > 0 ? Body.Trim() : $"{(int)Status} {Status}";
    }

    public async Task<Response> SendAsync(HttpMethod method, string path, HttpContent? content, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, Address + path) { Content = content };
        if (_token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _token);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_timeout);
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, timeout.Token);
        }
        catch (HttpRequestException ex)
        {
            throw new CliException(ExitCodes.Error, $"could not reach the controller at {Address}: {Innermost(ex).Message}");
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new CliException(ExitCodes.Error, $"could not reach the controller at {Address}: no answer within {_timeout.TotalSeconds:0} s");
        }
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(ct);
            if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
                throw new CliException(ExitCodes.Error, _token is null
                    ? $"no token found (tried {_tried}), and the controller at {Address} requires one ({(int)response.StatusCode}): " +
                      $"set {ClusterToken.EnvVariable} or {ClusterToken.PathVariable}, or run from the repository whose .state/{ClusterToken.FileName} the AppHost wrote"
                    : $"the controller refused the token ({(int)response.StatusCode}): set {ClusterToken.EnvVariable} or {ClusterToken.PathVariable} to this cluster's token (the one sent came from {_source})");
            return new Response(response.StatusCode, body);
        }
    }

    /// <summary>A GET whose failure status is an error (exit 1).</summary>
    public async Task<JsonNode> GetAsync(string path, CancellationToken ct)
    {
        var response = await SendAsync(HttpMethod.Get, path, null, ct);
        if (!response.IsSuccess) throw Failed(response);
        return response.Json ?? throw new CliException(ExitCodes.Error, $"the controller at {Address} answered {path} with something other than JSON");
    }

    public CliException Failed(Response response) =>
        new(ExitCodes.Error, $"the controller at {Address} answered {(int)response.Status} {response.Status}: {response.Error}");

    private static Exception Innermost(Exception ex)
    {
        while (ex.InnerException is not null) ex = ex.InnerException;
        return ex;
    }

    private static JsonNode? TryParse(string body)
    {
        try { return body.Length == 0 ? null : JsonNode.Parse(body); }
        catch (System.Text.Json.JsonException) { return null; }
    }

    public void Dispose() => _http.Dispose();
}
