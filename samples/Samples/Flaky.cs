using Microsoft.AspNetCore.Http;
using ServeAspire;

namespace Samples;

/// <summary>
/// A deployment whose health can be flipped over HTTP, to exercise health checking. The replica
/// that receives the request flips: <c>POST …/toggle</c> makes its health check throw (and back),
/// <c>POST …/hang</c> makes its health check never return. Any other request answers the PID.
/// </summary>
[Deployment(NumReplicas = 2)]
public sealed class Flaky : IDeployment, IHealthCheckedDeployment
{
    private volatile bool _unhealthy;
    private volatile bool _hang;

    public Task<object?> CallAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        var path = request.Path.Value ?? "";
        if (HttpMethods.IsPost(request.Method) && path.EndsWith("/toggle", StringComparison.Ordinal))
        {
            _unhealthy = !_unhealthy;
            return Task.FromResult<object?>(new { pid = Environment.ProcessId, unhealthy = _unhealthy });
        }
        if (HttpMethods.IsPost(request.Method) && path.EndsWith("/hang", StringComparison.Ordinal))
        {
            _hang = true;
            return Task.FromResult<object?>(new { pid = Environment.ProcessId, hanging = true });
        }
        return Task.FromResult<object?>(Environment.ProcessId);
    }

    public async Task CheckHealthAsync()
    {
        if (_hang) await Task.Delay(Timeout.Infinite);
        if (_unhealthy) throw new InvalidOperationException($"replica {Environment.ProcessId} was toggled unhealthy");
    }
}
