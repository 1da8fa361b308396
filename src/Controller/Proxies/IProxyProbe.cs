using ServeAspire.Model;

namespace ServeAspire.Controller.Proxies;

/// <summary>One health check of one proxy (<c>GET /-/healthz</c>), the seam tests fake.</summary>
public interface IProxyProbe
{
    /// <returns>HEALTHY, DRAINING, DRAINED or UNHEALTHY, and why when not healthy.</returns>
    Task<(ProxyStatus Status, string? Reason)> CheckAsync(string address, TimeSpan timeout, CancellationToken cancellationToken);
}

/// <summary>
/// 200 → HEALTHY; 503 while draining → DRAINING, or DRAINED once it has no request in flight (the
/// proxy says which in <see cref="ProxyDrain.Header"/>); anything else, a timeout or a refused connection → UNHEALTHY.
/// </summary>
internal sealed class HttpProxyProbe : IProxyProbe, IDisposable
{
    private readonly HttpClient _client = new(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(1) })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    public async Task<(ProxyStatus, string?)> CheckAsync(string address, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            using var response = await _client.GetAsync($"{address}/-/healthz", cts.Token);
            if (response.IsSuccessStatusCode) return (ProxyStatus.HEALTHY, null);
            var body = await response.Content.ReadAsStringAsync(cts.Token);
            if (response.Headers.TryGetValues(ProxyDrain.Header, out var drain))
                return (drain.FirstOrDefault() == ProxyDrain.Drained ? ProxyStatus.DRAINED : ProxyStatus.DRAINING, body);
            return body.Contains("drained", StringComparison.OrdinalIgnoreCase) ? (ProxyStatus.DRAINING, body) : (ProxyStatus.UNHEALTHY, $"{(int)response.StatusCode}: {body}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (ProxyStatus.UNHEALTHY, $"health check timed out after {timeout.TotalSeconds:0.###} s");
        }
        catch (HttpRequestException ex)
        {
            return (ProxyStatus.UNHEALTHY, $"health check failed: {ex.Message}");
        }
    }

    public void Dispose() => _client.Dispose();
}
