using System.Globalization;
using Microsoft.AspNetCore.Http;
using ServeAspire;

namespace Samples;

/// <summary>
/// The seed's <c>sleepy_pid.py</c>: a slow constructor (10 s, like loading a model) and a handler
/// that answers the replica's process id, so a client can see which replica served it. <c>?ms=50</c>
/// makes a call take that long first (at most 10 s): the failure tests use it so that requests are
/// always in flight when a fault strikes. <c>?header=traceparent</c> answers that request header as
/// the replica received it instead (how the tests see what the proxy propagates).
/// </summary>
[Deployment(NumReplicas = 6)]
public sealed class SleepyPid : IDeployment
{
    public SleepyPid()
    {
        // Seconds configurable so tests can start quickly; 10 s as in the seed by default.
        var seconds = double.TryParse(Environment.GetEnvironmentVariable("SLEEPY_PID_INIT_S"), CultureInfo.InvariantCulture, out var s) ? s : 10;
        Thread.Sleep(TimeSpan.FromSeconds(seconds));
    }

    public async Task<object?> CallAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (int.TryParse(request.Query["ms"], NumberStyles.None, CultureInfo.InvariantCulture, out var ms) && ms > 0)
            await Task.Delay(Math.Min(ms, 10_000), cancellationToken);
        if (request.Query["header"] is [{ } name]) return request.Headers[name].ToString();
        return Environment.ProcessId;
    }
}
