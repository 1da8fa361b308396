using Microsoft.AspNetCore.Http;
using ServeAspire;

namespace Samples;

/// <summary>
/// A deployment whose health can be flipped over HTTP, to exercise health checking. The replica
/// that receives the request flips: <c>POST …/toggle</c> makes its health check throw (and back),
/// <c>POST …/hang</c> makes its health check never return, <c>POST …/stall</c> makes every later call
/// on it never return (while its health check still passes). Any other request answers the PID.
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
        return Environment.ProcessId;
    }

    public async Task CheckHealthAsync()
    {
        if (_hang) await Task.Delay(Timeout.Infinite);
        if (_unhealthy) throw new InvalidOperationException($"replica {Environment.ProcessId} was toggled unhealthy");
    }
}
