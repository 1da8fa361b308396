using System.Globalization;
using Microsoft.AspNetCore.Http;
using ServeAspire;

namespace Samples;

/// <summary>
/// A deployment whose health can be flipped over HTTP, to exercise health checking. The replica
/// that receives the request flips: <c>POST …/toggle</c> makes its health check throw (and back),
/// <c>POST …/hang</c> makes its health check never return, <c>POST …/stall</c> makes every later call
/// on it never return (while its health check still passes). Any other request answers the PID,
/// after <c>?ms=N</c> (at most 10 s); a replica that is unhealthy or hanging also answers 1 s late,
/// so a proxy that kept routing to it would show in its callers' latency.
/// </summary>
[Deployment(NumReplicas = 2)]
public sealed class Flaky : IDeployment, IHealthCheckedDeployment
{
    private volatile bool _unhealthy;
    private volatile bool _hang;
    private volatile bool _stall;

    public async Task<object?> CallAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (_stall) await Task.Delay(Timeout.Infinite, cancellationToken);
        var path = request.Path.Value ?? "";
        if (HttpMethods.IsPost(request.Method) && path.EndsWith("/stall", StringComparison.Ordinal))
        {
            _stall = true;
            return new { pid = Environment.ProcessId, stalled = true };
        }
        if (HttpMethods.IsPost(request.Method) && path.EndsWith("/toggle", StringComparison.Ordinal))
        {
            _unhealthy = !_unhealthy;
            return new { pid = Environment.ProcessId, unhealthy = _unhealthy };
        }
        if (HttpMethods.IsPost(request.Method) && path.EndsWith("/hang", StringComparison.Ordinal))
        {
            _hang = true;
            return new { pid = Environment.ProcessId, hanging = true };
        }
        var ms = int.TryParse(request.Query["ms"], NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? Math.Min(v, 10_000) : 0;
        if (_unhealthy || _hang) ms += UnhealthyDelayMs;
        if (ms > 0) await Task.Delay(ms, cancellationToken);
        return Environment.ProcessId;
    }

    /// <summary>How much later an unhealthy replica answers (a sick model that still answers, slowly).</summary>
    public const int UnhealthyDelayMs = 1000;

    public async Task CheckHealthAsync()
    {
        if (_hang) await Task.Delay(Timeout.Infinite);
        if (_unhealthy) throw new InvalidOperationException($"replica {Environment.ProcessId} was toggled unhealthy");
    }
}
