using Microsoft.Extensions.Options;

namespace ServeAspire.Proxy;

/// <summary>
/// SIGTERM drains the proxy (Ray's DRAINING proxy, a Kubernetes preStop): <c>/-/healthz</c> turns
/// 503 "This node is being drained." while the proxy keeps serving for <see cref="ProxyOptions.DrainPeriod"/>
/// (so load balancers stop sending); then Kestrel stops accepting and lets in-flight requests finish
/// (bounded by <see cref="ProxyOptions.DrainTimeout"/>). It drains in the host's "stopping" phase,
/// which runs before any hosted service (the web server included) is stopped.
/// </summary>
internal sealed partial class DrainCoordinator(ProxyLifecycle lifecycle, IOptions<ProxyOptions> options, TimeProvider time, ILogger<DrainCoordinator> logger) : IHostedLifecycleService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        lifecycle.Draining = true;
        Log.Draining(logger, o.Name, o.DrainPeriod.TotalSeconds, lifecycle.InFlight);
        try { await Task.Delay(o.DrainPeriod, time, cancellationToken); }
        catch (OperationCanceledException) { }
        // Then Kestrel's graceful stop closes the listener and lets in-flight requests finish, for at most
        // DrainTimeout (the host's shutdown timeout): new requests can no longer keep the drain alive.
        Log.Drained(logger, o.Name, lifecycle.InFlight);
    }

    private static partial class Log
    {
        [LoggerMessage(230, LogLevel.Warning, "Proxy {Proxy} draining: healthz now 503, serving {DrainS} s more, {InFlight} request(s) in flight")]
        public static partial void Draining(ILogger logger, string proxy, double drainS, long inFlight);
        [LoggerMessage(231, LogLevel.Warning, "Proxy {Proxy} stops accepting; {InFlight} request(s) in flight finish first")]
        public static partial void Drained(ILogger logger, string proxy, long inFlight);
    }
}
