using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace ServeAspire.AppHost;

/// <summary>
/// Aspire's start has no deadline: it waits for every resource to be created, and one that waits for the store is only
/// created once the store is healthy. A store that never turns healthy, or a process that fails or exits while others
/// wait for it (the restart policy only runs once the start is over), would leave the AppHost idle, serving nothing and
/// saying nothing. Instead the start fails: when a watched resource fails or exits first, or when the deadline passes
/// (naming what is not ready yet). The app is stopped with the reason, which AppHost.cs prints before exiting non-zero.
/// </summary>
internal static partial class StartupDeadline
{
    /// <summary>Watches the start; returns the reason it failed, null while it has not.</summary>
    public static Func<string?> AddStartupDeadline(this IDistributedApplicationBuilder builder, IReadOnlySet<string> watched, TimeSpan deadline)
    {
        string? failure = null;
        builder.Eventing.Subscribe<BeforeStartEvent>((e, _) =>
        {
            Task.Run(() => WatchAsync(e.Services));
            return Task.CompletedTask;
        });
        return () => Volatile.Read(ref failure);

        async Task WatchAsync(IServiceProvider services)
        {
            var lifetime = services.GetRequiredService<IHostApplicationLifetime>();
            var notifications = services.GetRequiredService<ResourceNotificationService>();
            var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(StartupDeadline));
            using var watch = CancellationTokenSource.CreateLinkedTokenSource(lifetime.ApplicationStarted, lifetime.ApplicationStopping);
            watch.CancelAfter(deadline);
            var last = new Dictionary<string, CustomResourceSnapshot>();
            try
            {
                await foreach (var evt in notifications.WatchAsync(watch.Token))
                {
                    if (!watched.Contains(evt.Resource.Name)) continue;
                    last[evt.Resource.Name] = evt.Snapshot;
                    var state = evt.Snapshot.State?.Text;
                    if (state == KnownResourceStates.FailedToStart || state == KnownResourceStates.Exited || state == KnownResourceStates.Finished)
                    {
                        Fail($"{evt.Resource.Name} {state} (exit code {evt.Snapshot.ExitCode}) before the app started");
                        return;
                    }
                }
            }
            catch (OperationCanceledException) { }
            if (lifetime.ApplicationStarted.IsCancellationRequested || lifetime.ApplicationStopping.IsCancellationRequested) return;
            var notReady = watched.Order(StringComparer.Ordinal)
                .Select(name => (name, snapshot: last.GetValueOrDefault(name)))
                .Where(r => r.snapshot?.State?.Text != KnownResourceStates.Running || r.snapshot.HealthStatus is not (null or HealthStatus.Healthy))
                .Select(r => r.snapshot?.State?.Text is { Length: > 0 } state ? $"{r.name} ({state}{Health(r.snapshot)})" : $"{r.name} (not created)");
            Fail($"not started within {deadline.TotalSeconds:F0} s (Serve:StartTimeoutSeconds); not ready: {string.Join(", ", notReady)}");

            void Fail(string reason)
            {
                Volatile.Write(ref failure, reason);
                Log.StartFailed(logger, reason);
                lifetime.StopApplication();
            }
        }
    }

    private static string Health(CustomResourceSnapshot s) =>
        s.HealthStatus is null ? "" : $", {s.HealthStatus}" + string.Concat(s.HealthReports
            .Where(h => h.Status != HealthStatus.Healthy && h.Description is { Length: > 0 })
            .Select(h => $": {h.Description}"));

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Critical, "The AppHost did not start: {Reason}")]
        public static partial void StartFailed(ILogger logger, string reason);
    }
}
