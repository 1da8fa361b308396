using System.Globalization;
using Microsoft.AspNetCore.Http;
using ServeAspire;

namespace Samples;

/// <summary>Sleeps the requested time (<c>?ms=500</c>), then answers the PID: for timeouts, backpressure and draining.</summary>
[Deployment(NumReplicas = 2, MaxOngoingRequests = 5)]
public sealed class Slow : IDeployment
{
    public async Task<object?> CallAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        var ms = int.TryParse(request.Query["ms"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? Math.Clamp(v, 0, 600_000) : 1000;
        await Task.Delay(ms, cancellationToken);
        return Environment.ProcessId;
    }
}
