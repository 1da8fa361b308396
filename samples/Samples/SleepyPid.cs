using Microsoft.AspNetCore.Http;
using ServeAspire;

namespace Samples;

/// <summary>
/// The seed's <c>sleepy_pid.py</c>: a slow constructor (10 s, like loading a model) and a handler
/// that answers the replica's process id, so a client can see which replica served it.
/// </summary>
[Deployment(NumReplicas = 6)]
public sealed class SleepyPid : IDeployment
{
    public SleepyPid()
    {
        // Seconds configurable so tests can start quickly; 10 s as in the seed by default.
        var seconds = double.TryParse(Environment.GetEnvironmentVariable("SLEEPY_PID_INIT_S"), System.Globalization.CultureInfo.InvariantCulture, out var s) ? s : 10;
        Thread.Sleep(TimeSpan.FromSeconds(seconds));
    }

    public Task<object?> CallAsync(HttpRequest request, CancellationToken cancellationToken) =>
        Task.FromResult<object?>(Environment.ProcessId);
}
