using ServeAspire.Config;
using ServeAspire.Controller.Telemetry;

namespace ServeAspire.Controller.Health;

/// <summary>
/// Health-checks RUNNING replicas without ever blocking the control loop (Ray's pattern): a check
/// is started when due and read at a later tick. Period has ±10 % jitter so replicas started together
/// are not probed together. A replica is reported unhealthy after
/// <see cref="FailureThreshold"/> consecutive failures (a non-200, an exception or a timeout).
/// </summary>
/// <param name="metrics">When given, each failed check is counted (<c>serve_controller_health_check_failures</c>).</param>
public sealed class ReplicaHealthTracker(IReplicaHealthProbe probe, Func<double> random, ControllerMetrics? metrics = null)
{
    public const int FailureThreshold = 3;

    private sealed class Entry
    {
        public DateTimeOffset NextDue;
        public Task<string?>? InFlight;
        public int Failures;
    }

    private readonly Dictionary<string, Entry> _entries = [];

    public sealed record Target(string ReplicaId, string Url, DeploymentSpec Spec, string Application = "");

    public sealed record Failure(string ReplicaId, int Failures, string Error);

    /// <returns>Replicas that just reached the failure threshold (each reported once).</returns>
    public IReadOnlyList<Failure> Update(IReadOnlyCollection<Target> running, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var ids = running.Select(t => t.ReplicaId).ToHashSet();
        foreach (var gone in _entries.Keys.Where(k => !ids.Contains(k)).ToList()) _entries.Remove(gone);

        var failures = new List<Failure>();
        foreach (var target in running)
        {
            if (!_entries.TryGetValue(target.ReplicaId, out var entry))
            {
                // The first check comes one period after the replica started serving.
                _entries[target.ReplicaId] = new Entry { NextDue = now + Period(target.Spec) };
                continue;
            }
            if (entry.InFlight is { IsCompleted: true } done)
            {
                var error = done.IsCompletedSuccessfully ? done.Result : done.Exception?.GetBaseException().Message ?? "health check canceled";
                entry.InFlight = null;
                entry.NextDue = now + Period(target.Spec);
                if (error is null) entry.Failures = 0;
                else metrics?.HealthCheckFailed(target.Application, target.Spec.Name, target.ReplicaId);
                if (error is not null && ++entry.Failures >= FailureThreshold)
                {
                    failures.Add(new Failure(target.ReplicaId, entry.Failures, error));
                    _entries.Remove(target.ReplicaId);
                    continue;
                }
            }
            if (entry.InFlight is null && now >= entry.NextDue)
                entry.InFlight = CheckAsync(target, cancellationToken);
        }
        return failures;
    }

    /// <summary>One check in its own span: a background root, exported when it fails or is slow (not routine ones).</summary>
    private async Task<string?> CheckAsync(Target target, CancellationToken cancellationToken)
    {
        using var span = ControllerTracing.StartHealthCheck(target.Application, target.Spec.Name, target.ReplicaId);
        try
        {
            var error = await probe.CheckAsync(target.Url, TimeSpan.FromSeconds(target.Spec.HealthCheckTimeoutS), cancellationToken);
            if (error is not null) span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, error);
            return error;
        }
        catch (Exception ex)
        {
            span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, ex.Message);
            throw;
        }
    }

    /// <summary>Consecutive failures so far (for status messages and tests).</summary>
    public int FailuresOf(string replicaId) => _entries.TryGetValue(replicaId, out var e) ? e.Failures : 0;

    private TimeSpan Period(DeploymentSpec spec) => TimeSpan.FromSeconds(spec.HealthCheckPeriodS * (0.9 + 0.2 * random()));
}
