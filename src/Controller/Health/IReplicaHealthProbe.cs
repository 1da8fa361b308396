namespace ServeAspire.Controller.Health;

/// <summary>One health check of one replica (the replica's liveness plus the user's CheckHealthAsync).</summary>
public interface IReplicaHealthProbe
{
    /// <returns>Null when healthy, else why not.</returns>
    Task<string?> CheckAsync(string replicaUrl, TimeSpan timeout, CancellationToken cancellationToken);
}

/// <summary>
/// Calls <c>GET /-/check_health</c> on the replica. Deliberately a plain client: the controller's
/// threshold of consecutive failures is the resilience policy here, and a retry inside one check
/// would hide exactly the failures it counts.
/// </summary>
internal sealed class HttpReplicaHealthProbe : IReplicaHealthProbe, IDisposable
{
    private readonly HttpClient _client = new(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(2) })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    public async Task<string?> CheckAsync(string replicaUrl, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            using var response = await _client.GetAsync($"{replicaUrl}/-/check_health", cts.Token);
            if (response.IsSuccessStatusCode) return null;
            var body = await response.Content.ReadAsStringAsync(cts.Token);
            return $"{(int)response.StatusCode}: {body}";
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return $"health check timed out after {timeout.TotalSeconds:0.###} s";
        }
        catch (HttpRequestException ex)
        {
            return $"health check failed: {ex.Message}";
        }
    }

    public void Dispose() => _client.Dispose();
}
