using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace ServeAspire.AppHost.Dashboard;

/// <summary>
/// Shows every Serve replica in the dashboard: about once a second it reads the controller's view
/// (<c>GET /api/serve/applications/</c> and <c>GET /api/actors</c>) and publishes one resource per replica,
/// nested under its node, through <see cref="ResourceNotificationService"/>. A dead replica stays as
/// Exited/Finished for <see cref="ExitedRetention"/>, then is hidden. Each change is a line in the
/// replica's log and in its node's.
/// </summary>
internal sealed partial class ReplicaResourcePublisher(
    ResourceNotificationService notifications,
    ResourceLoggerService loggers,
    DistributedApplicationModel model,
    ServeApiClient api,
    ServeClusterResource cluster,
    TimeProvider time,
    ILogger<ReplicaResourcePublisher> logger) : BackgroundService
{
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan ExitedRetention = TimeSpan.FromMinutes(5);

    private sealed class Tracked(ReplicaResource resource, ReplicaRow row)
    {
        public ReplicaResource Resource { get; } = resource;
        public ReplicaRow Row { get; set; } = row;
        public DateTime? StoppedAt { get; set; }
    }

    private readonly Dictionary<string, Tracked> _replicas = new(StringComparer.Ordinal);
    private readonly HashSet<string> _retired = new(StringComparer.Ordinal);
    private string? _lastError;
    private string? _clusterSummary;

    /// <summary>Adds drill commands to each replica resource when it is created.</summary>
    public Action<ReplicaResource>? Decorate { get; set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Period, time);
        try
        {
            do
            {
                try { await TickAsync(stoppingToken); }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Log.TickFailed(logger, ex);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }

    /// <summary>One pass: observe (two GETs), then publish what changed. A failed GET changes nothing.</summary>
    internal async Task TickAsync(CancellationToken ct)
    {
        JsonNode? applications, actors;
        try
        {
            applications = await api.ApplicationsAsync(ct);
            actors = await api.ActorsAsync(ct);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException && !ct.IsCancellationRequested)
        {
            // Before the controllers are up, or while they elect: keep showing the last view.
            if (_lastError != ex.Message) Log.ControllerUnreachable(logger, ex.Message);
            _lastError = ex.Message;
            return;
        }
        _lastError = null;
        var now = time.GetUtcNow().UtcDateTime;
        var reported = new HashSet<string>(StringComparer.Ordinal);
        foreach (var fresh in ReplicaRows.From(applications, actors))
        {
            reported.Add(fresh.ReplicaId);
            if (_retired.Contains(fresh.ReplicaId)) continue;
            await ObserveAsync(fresh, now);
        }
        // A live replica the controller no longer reports at all (its dead history is bounded) is gone.
        foreach (var t in _replicas.Values.Where(t => !t.Row.IsDead && !reported.Contains(t.Row.ReplicaId)).ToList())
            await ObserveAsync(t.Row with { State = ReplicaRow.Dead, DeathCause = "no longer reported by the controller" }, now);
        foreach (var t in _replicas.Values.Where(t => t.StoppedAt is { } at && now - at >= ExitedRetention).ToList())
        {
            await notifications.PublishUpdateAsync(t.Resource, s => s with { IsHidden = true });
            _replicas.Remove(t.Row.ReplicaId);
            _retired.Add(t.Row.ReplicaId);
        }
        await PublishClusterAsync(applications);
    }

    private async Task ObserveAsync(ReplicaRow fresh, DateTime now)
    {
        _replicas.TryGetValue(fresh.ReplicaId, out var tracked);
        var before = tracked?.Row;
        // The actor row of a dead replica does not name its application: keep the one seen while it lived.
        if (fresh.Application.Length == 0 && before is { Application.Length: > 0 }) fresh = fresh with { Application = before.Application };
        if (fresh.IsDead && before is not null) fresh = fresh with { StartedAt = fresh.StartedAt ?? before.StartedAt, StopReason = fresh.StopReason ?? before.StopReason };
        if (before == fresh) return;
        if (tracked is null)
        {
            var resource = new ReplicaResource(ReplicaRows.ResourceName(fresh.Deployment, fresh.ReplicaId), fresh.ReplicaId);
            if (Node(fresh.NodeId) is { } node) resource.Annotations.Add(new ResourceRelationshipAnnotation(node, "Parent"));
            Decorate?.Invoke(resource);
            tracked = new Tracked(resource, fresh);
            _replicas[fresh.ReplicaId] = tracked;
        }
        tracked.Row = fresh;
        if (fresh.IsDead) tracked.StoppedAt ??= now;
        var parent = ResolvedName(fresh.NodeId);
        await notifications.PublishUpdateAsync(tracked.Resource, s => ReplicaRows.Apply(s, fresh, parent, tracked.StoppedAt));
        if (ReplicaRows.Transition(before, fresh) is { } line)
        {
            var level = fresh.IsDead && ReplicaRows.StateOf(fresh).Text == KnownResourceStates.Exited ? LogLevel.Warning : LogLevel.Information;
            loggers.GetLogger(tracked.Resource).Log(level, "{Line}", line);
            if (parent is not null) loggers.GetLogger(parent).Log(level, "{Line}", line);
        }
    }

    /// <summary>The node's resource id as the dashboard knows it (a project's carries DCP's suffix, e.g. node-0-abcdefgh).</summary>
    private string? ResolvedName(string? nodeId) =>
        Node(nodeId) is not null && notifications.TryGetCurrentState(nodeId!, out var evt) ? evt.ResourceId : null;

    private IResource? Node(string? nodeId) =>
        nodeId is null ? null : model.Resources.FirstOrDefault(r => r is ProjectResource && r.Name == nodeId);

    /// <summary>The cluster resource: Running once the controller answers, with each application's status and replica counts.</summary>
    private async Task PublishClusterAsync(JsonNode? applications)
    {
        var summary = string.Join("; ", (applications?["applications"] as JsonObject ?? []).Select(a =>
            $"{a.Key} {a.Value?["status"]}: " + string.Join(", ", (a.Value?["deployments"] as JsonObject ?? []).Select(d =>
                $"{d.Key} {d.Value?["status"]} {(d.Value?["replicas"] as JsonArray)?.Count(r => r?["state"]?.ToString() == "RUNNING") ?? 0}/{d.Value?["target_num_replicas"]}"))));
        if (summary == _clusterSummary) return;
        _clusterSummary = summary;
        await notifications.PublishUpdateAsync(cluster, s => s with
        {
            State = new ResourceStateSnapshot(KnownResourceStates.Running, KnownResourceStateStyles.Success),
            Properties = s.Properties.Where(p => p.Name != "serve.applications").Append(new("serve.applications", summary.Length == 0 ? "(none)" : summary)).ToImmutableArray(),
        });
    }

    private static partial class Log
    {
        [LoggerMessage(601, LogLevel.Debug, "Replica resources: the controller does not answer ({Error}); keeping the last view")]
        public static partial void ControllerUnreachable(ILogger logger, string error);

        [LoggerMessage(602, LogLevel.Warning, "Replica resources: a pass failed")]
        public static partial void TickFailed(ILogger logger, Exception ex);
    }
}
