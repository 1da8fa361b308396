using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using ServeAspire.Controller.Checkpoints;
using ServeAspire.Model;

namespace ServeAspire.Controller.Health;

/// <summary>
/// Health-checks every registered proxy on <c>/-/healthz</c> (Ray's ProxyState): 200 → HEALTHY,
/// 503 "drained" → DRAINING, anything else → UNHEALTHY. Heartbeats tell alive from dead.
/// </summary>
public sealed class ProxyHealthMonitor(IClusterStore store, IOptions<ControllerOptions> options) : IDisposable
{
    private readonly HttpClient _client = new(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(1) });
    private readonly ConcurrentDictionary<string, (string InstanceId, ProxyStatus Status)> _status = new();

    public ProxyStatus? StatusOf(ProxyRegistration proxy) =>
        _status.TryGetValue(proxy.Name, out var s) && s.InstanceId == proxy.InstanceId ? s.Status : null;

    /// <returns>The registrations it read (the control loop prunes dead ones from the same read).</returns>
    public async Task<IReadOnlyList<(ProxyRegistration Registration, bool Alive)>> ProbeAsync(CancellationToken cancellationToken)
    {
        var registered = await store.GetProxiesAsync(cancellationToken);
        await Task.WhenAll(registered.Where(p => p.Alive).Select(async p =>
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(options.Value.ProxyProbeTimeout);
            ProxyStatus status;
            try
            {
                using var response = await _client.GetAsync($"{p.Registration.Address}/-/healthz", cts.Token);
                var body = await response.Content.ReadAsStringAsync(cts.Token);
                status = response.IsSuccessStatusCode ? ProxyStatus.HEALTHY
                    : body.Contains("drained", StringComparison.OrdinalIgnoreCase) ? ProxyStatus.DRAINING
                    : ProxyStatus.UNHEALTHY;
            }
            catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
            {
                status = ProxyStatus.UNHEALTHY;
            }
            _status[p.Registration.Name] = (p.Registration.InstanceId, status);
        }));
        return registered;
    }

    public void Dispose() => _client.Dispose();
}
