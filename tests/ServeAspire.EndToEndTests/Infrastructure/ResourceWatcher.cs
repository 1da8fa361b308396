using System.Collections.Concurrent;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;

namespace ServeAspire.EndToEndTests.Infrastructure;

/// <summary>
/// The latest snapshot of every resource the AppHost publishes (declared or created at run time), as the
/// dashboard receives them: from <see cref="ResourceNotificationService.WatchAsync"/>.
/// </summary>
public sealed class ResourceWatcher : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, ResourceEvent> _latest = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _run;

    public ResourceWatcher(DistributedApplication app)
    {
        var notifications = app.Services.GetRequiredService<ResourceNotificationService>();
        _run = Task.Run(async () =>
        {
            try
            {
                await foreach (var evt in notifications.WatchAsync(_stop.Token))
                    _latest[evt.ResourceId] = evt;
            }
            catch (OperationCanceledException) { }
        });
    }

    public IReadOnlyList<ResourceEvent> All => [.. _latest.Values];

    /// <summary>Replica resources (resource type ServeReplica) that are not hidden.</summary>
    public IReadOnlyList<ReplicaResourceView> Replicas => [.. _latest.Values
        .Where(e => e.Snapshot.ResourceType == "ServeReplica" && !e.Snapshot.IsHidden)
        .Select(e => new ReplicaResourceView(e.ResourceId, e.Snapshot.State?.Text, Prop(e, "replica.id"), Prop(e, "replica.node"),
            Prop(e, "replica.deployment"), Prop(e, "replica.application"), int.TryParse(Prop(e, "replica.pid"), out var pid) ? pid : null,
            Prop(e, "resource.parentName"), Prop(e, "replica.restarts"), e.Snapshot.ExitCode))];

    public ResourceEvent? Get(string resourceId) => _latest.TryGetValue(resourceId, out var e) ? e : null;

    public static string? Prop(ResourceEvent e, string name) => e.Snapshot.Properties.FirstOrDefault(p => p.Name == name)?.Value?.ToString();

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _run;
        _stop.Dispose();
    }
}

public sealed record ReplicaResourceView(string ResourceId, string? State, string? ReplicaId, string? NodeId, string? Deployment, string? Application,
    int? Pid, string? ParentName, string? Restarts, int? ExitCode);
