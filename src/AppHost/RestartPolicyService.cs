using System.Collections.Concurrent;
using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace ServeAspire.AppHost;

/// <summary>
/// The local twin of Kubernetes' <c>restartPolicy: Always</c>, which Aspire lacks (a project that
/// exits stays Finished): when a watched resource exits without having been asked to stop, start it
/// again through Aspire's own resource command, with capped exponential backoff (1 s, 2 s, 4 s … 30 s;
/// back to 1 s after 60 s of running). A resource stopped from the dashboard passes through
/// "Stopping" first and stays stopped.
/// </summary>
internal sealed partial class RestartPolicyService(
    IServiceProvider services,
    IHostApplicationLifetime lifetime,
    ILogger<RestartPolicyService> logger,
    IReadOnlySet<string> watched,
    TimeSpan firstDelay) : BackgroundService
{
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StableAfter = TimeSpan.FromSeconds(60);

    private sealed class Tracked
    {
        public string? LastState;
        public bool StopRequested;
        public DateTimeOffset RunningSince;
        public TimeSpan Backoff;
        public int Restarts;
        public int? LastExitCode;
    }

    /// <summary>The dashboard's restart count and last exit code of a restarted resource (properties of its snapshot).</summary>
    private static Task PublishRestartsAsync(ResourceNotificationService notifications, ResourceEvent evt, Tracked t) =>
        notifications.PublishUpdateAsync(evt.Resource, evt.ResourceId, s => s with
        {
            Properties = s.Properties.Where(p => p.Name is not (RestartsProperty or LastExitCodeProperty))
                .Append(new(RestartsProperty, t.Restarts.ToString(System.Globalization.CultureInfo.InvariantCulture)))
                .Append(new(LastExitCodeProperty, t.LastExitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? ""))
                .ToImmutableArray(),
        });

    public const string RestartsProperty = "serve.restarts";
    public const string LastExitCodeProperty = "serve.lastExitCode";

    private readonly ConcurrentDictionary<string, Tracked> _tracked = new();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var notifications = services.GetRequiredService<ResourceNotificationService>();
        var commands = services.GetRequiredService<ResourceCommandService>();
        try
        {
            await foreach (var evt in notifications.WatchAsync(stoppingToken))
            {
                if (!watched.Contains(evt.Resource.Name)) continue;
                var state = evt.Snapshot.State?.Text;
                var t = _tracked.GetOrAdd(evt.ResourceId, _ => new Tracked { Backoff = firstDelay });
                var previous = t.LastState;
                if (state == previous) continue;
                t.LastState = state;

                if (state == KnownResourceStates.Stopping) t.StopRequested = true;
                else if (state == KnownResourceStates.Running)
                {
                    if (t.Restarts > 0) await PublishRestartsAsync(notifications, evt, t);
                    if (DateTimeOffset.UtcNow - t.RunningSince > StableAfter) t.Backoff = firstDelay;
                    t.RunningSince = DateTimeOffset.UtcNow;
                    t.StopRequested = false;
                }
                else if (IsExit(state) && previous is not null && !IsExit(previous) && !t.StopRequested && !lifetime.ApplicationStopping.IsCancellationRequested)
                {
                    var delay = t.Backoff;
                    t.Backoff = TimeSpan.FromTicks(Math.Max(firstDelay.Ticks, Math.Min(MaxBackoff.Ticks, t.Backoff.Ticks * 2)));
                    t.Restarts++;
                    Log.Restarting(logger, evt.Resource.Name, state!, evt.Snapshot.ExitCode, delay.TotalSeconds, t.Restarts);
                    t.LastExitCode = evt.Snapshot.ExitCode;
                    _ = RestartAsync(commands, evt.ResourceId, evt.Resource.Name, delay, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }

    private async Task RestartAsync(ResourceCommandService commands, string resourceId, string name, TimeSpan delay, CancellationToken ct)
    {
        try
        {
            await Task.Delay(delay, ct);
            if (lifetime.ApplicationStopping.IsCancellationRequested || _tracked[resourceId].StopRequested) return;
            var result = await commands.ExecuteCommandAsync(resourceId, "start", ct);
            if (!result.Success) Log.RestartFailed(logger, name, result.Message);
        }
        catch (OperationCanceledException) { }
        catch (Exception ex)
        {
            Log.RestartFailed(logger, name, ex.Message);
        }
    }

    private static bool IsExit(string? state) =>
        state == KnownResourceStates.Exited || state == KnownResourceStates.Finished || state == KnownResourceStates.FailedToStart;

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Resource {Resource} exited unexpectedly ({State}, exit code {ExitCode}); restarting in {DelayS} s (restart #{Restarts})")]
        public static partial void Restarting(ILogger logger, string resource, string state, int? exitCode, double delayS, int restarts);

        [LoggerMessage(2, LogLevel.Error, "Restarting {Resource} failed: {Error}")]
        public static partial void RestartFailed(ILogger logger, string resource, string? error);
    }
}
