using System.Globalization;
using Microsoft.AspNetCore.Http;
using ServeAspire;

namespace Samples;

/// <summary>
/// Sleeps the requested time (<c>?ms=500</c>), then answers the PID: for timeouts, backpressure and draining.
/// <c>?inflight</c> answers at once with how many GETs and POSTs this replica holds right now, so a test
/// can wait until requests are really mid-flight on a replica before it kills it.
/// </summary>
[Deployment(NumReplicas = 2, MaxOngoingRequests = 5)]
public sealed class Slow : IDeployment
{
    private int _gets, _posts;

    public async Task<object?> CallAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.Query.ContainsKey("inflight"))
            return new { get = Volatile.Read(ref _gets), post = Volatile.Read(ref _posts) };
        var ms = int.TryParse(request.Query["ms"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? Math.Clamp(v, 0, 600_000) : 1000;
        var isPost = HttpMethods.IsPost(request.Method);
        Interlocked.Increment(ref isPost ? ref _posts : ref _gets);
        try
        {
            await Task.Delay(ms, cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref isPost ? ref _posts : ref _gets);
        }
        return Environment.ProcessId;
    }
}
