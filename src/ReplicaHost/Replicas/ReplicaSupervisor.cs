using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using ServeAspire.Model;
using ServeAspire.ReplicaHost.Nodes;
using ServeAspire.Store;

namespace ServeAspire.ReplicaHost.Replicas;

/// <summary>
/// Starts, stops and lists this node's replicas (the raylet's worker pool): processes, or stand-ins
/// with <c>Node:Simulated</c> (the launcher decides which; every rule here holds for both). Starts are
/// idempotent by replica id, so the controller can repeat a request it is unsure about. Exits are
/// published on the store's event channel at once, so the controller does not wait for a poll.
/// </summary>
internal sealed partial class ReplicaSupervisor(
    IOptions<NodeOptions> options,
    NodeIdentity identity,
    IReplicaLauncher launcher,
    IClusterEventPublisher events,
    TimeProvider time,
    ILogger<ReplicaSupervisor> logger) : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, IReplica> _replicas = new();
    private readonly Lock _startLock = new();
    /// <summary>Per replica id restarted in place by the kill API: how many times, and how its last process ended.</summary>
    private readonly ConcurrentDictionary<string, (int Count, int? LastExitCode)> _restarts = new();
    private bool _shuttingDown;

    public ReplicaProcessInfo Start(StartReplicaRequest request)
    {
        lock (_startLock)
        {
            if (_shuttingDown || identity.Draining) throw new InvalidOperationException("node is draining");
            if (_replicas.TryGetValue(request.ReplicaId, out var existing)) return Snapshot(existing);
            // Enforced here too, not only in the controller's placement: a node never runs more than it advertised.
            if (AliveCount >= options.Value.Capacity) throw new InvalidOperationException($"node is full: {AliveCount} of {options.Value.Capacity} replicas (Node:MaxReplicas)");
            var replica = launcher.Start(request);
            replica.OnExit += OnReplicaExit;
            _replicas[request.ReplicaId] = replica;
            Log.ReplicaStarted(logger, request.Application, request.Deployment, request.ReplicaId, replica.Pid, options.Value.Id);
            return Snapshot(replica);
        }
    }

    public bool Stop(string replicaId)
    {
        if (!_replicas.TryGetValue(replicaId, out var replica)) return false;
        var timeout = TimeSpan.FromSeconds(replica.Request.GracefulShutdownTimeoutS);
        _ = Task.Run(() => replica.StopAsync(timeout, CancellationToken.None));
        return true;
    }

    /// <summary>
    /// The kill API: SIGKILL replica <paramref name="replicaId"/>. With <paramref name="restart"/> a new
    /// process takes its place under the same id (STARTING until ready, as any start): it is swapped in
    /// before the old one is killed, so the controller never sees the id DEAD and replaces it.
    /// </summary>
    /// <returns>The replica's new snapshot, or null when this node has no live replica by that id.</returns>
    public ReplicaProcessInfo? Kill(string replicaId, bool restart, string reason)
    {
        IReplica? old;
        IReplica? replacement = null;
        lock (_startLock)
        {
            if (!_replicas.TryGetValue(replicaId, out old) || old.State == ReplicaProcessState.DEAD) return null;
            if (restart)
            {
                if (_shuttingDown || identity.Draining) throw new InvalidOperationException("node is draining: it restarts nothing");
                replacement = launcher.Start(old.Request);
                replacement.OnExit += OnReplicaExit;
                _replicas[replicaId] = replacement;
                _restarts.AddOrUpdate(replicaId, (1, null), (_, r) => (r.Count + 1, r.LastExitCode));
            }
        }
        Log.ReplicaKilled(logger, old.Request.Application, old.Request.Deployment, replicaId, old.Pid, options.Value.Id, restart, reason);
        old.Kill(reason);
        if (replacement is null) return Snapshot(old);
        Log.ReplicaStarted(logger, old.Request.Application, old.Request.Deployment, replicaId, replacement.Pid, options.Value.Id);
        return Snapshot(replacement);
    }

    /// <summary>A replica's snapshot with its restarts in place (kept by the supervisor: each process knows only itself).</summary>
    private ReplicaProcessInfo Snapshot(IReplica replica) =>
        _restarts.TryGetValue(replica.Request.ReplicaId, out var r) ? replica.Snapshot() with { Restarts = r.Count, LastExitCode = r.LastExitCode } : replica.Snapshot();

    /// <summary>Passes a new user_config to a live replica; false when this node has no such live replica.</summary>
    public bool Reconfigure(string replicaId, ReconfigureReplicaRequest request) =>
        _replicas.TryGetValue(replicaId, out var replica) && replica.State is ReplicaProcessState.STARTING or ReplicaProcessState.RUNNING && replica.Reconfigure(request);

    /// <summary>The state of replica <paramref name="replicaId"/>, null when this node has none by that id (never had, or pruned).</summary>
    public ReplicaProcessState? StateOf(string replicaId) => _replicas.TryGetValue(replicaId, out var replica) ? replica.State : null;

    public int AliveCount => _replicas.Values.Count(r => r.State != ReplicaProcessState.DEAD);

    /// <summary>This node's replicas by state (for the node's gauge; dead ones until pruned).</summary>
    public IReadOnlyDictionary<ReplicaProcessState, int> CountByState() =>
        _replicas.Values.GroupBy(r => r.State).ToDictionary(g => g.Key, g => g.Count());

    public NodeReplicasResponse List()
    {
        Prune();
        return new NodeReplicasResponse(options.Value.Id, identity.InstanceId, _replicas.Values.Select(Snapshot).OrderBy(r => r.ReplicaId).ToList());
    }

    private void Prune()
    {
        var cutoff = time.GetUtcNow() - options.Value.DeadReplicaRetention;
        foreach (var (id, r) in _replicas)
            if (r.ExitedAt is { } at && at < cutoff && _replicas.TryRemove(id, out _))
            {
                _restarts.TryRemove(id, out _);
                r.Dispose();
            }
    }

    private void OnReplicaExit(IReplica replica)
    {
        if (_shuttingDown) return;
        var id = replica.Request.ReplicaId;
        if (_replicas.TryGetValue(id, out var current) && !ReferenceEquals(current, replica))
        {
            // A process restarted in place by the kill API: its successor holds the id; only its exit code is kept.
            var exitCode = replica.Snapshot().ExitCode;
            _restarts.AddOrUpdate(id, (1, exitCode), (_, r) => (r.Count, exitCode));
            _ = Task.Run(replica.Dispose); // not inside its own exit event
            return;
        }
        var evt = new ClusterEvent(ClusterEvents.ReplicaExited, options.Value.Id, replica.Request.ReplicaId, replica.Snapshot().Message);
        _ = PublishAsync(evt);
    }

    private async Task PublishAsync(ClusterEvent evt)
    {
        // The controller also sees the exit at its next poll of this node; the event only makes it faster.
        if (await events.PublishAsync(evt) is { } error) Log.PublishFailed(logger, evt.ReplicaId, error);
    }

    /// <summary>Stops every replica gracefully (in parallel), killing what outlives the budget.</summary>
    public async Task StopAllAsync(CancellationToken cancellationToken)
    {
        lock (_startLock) _shuttingDown = true;
        var stops = _replicas.Values.Where(r => r.State != ReplicaProcessState.DEAD)
            .Select(r => r.StopAsync(TimeSpan.FromSeconds(r.Request.GracefulShutdownTimeoutS), cancellationToken));
        try { await Task.WhenAll(stops); }
        catch (OperationCanceledException) { }
        foreach (var r in _replicas.Values) r.Kill();
    }

    public async ValueTask DisposeAsync()
    {
        lock (_startLock) _shuttingDown = true;
        foreach (var r in _replicas.Values) r.Dispose();
        _replicas.Clear();
        await Task.CompletedTask;
    }

    private static partial class Log
    {
        [LoggerMessage(112, LogLevel.Warning, "Killing replica {Application}/{Deployment}#{ReplicaId} (pid {Pid}) on node {NodeId}, restart {Restart}: {Reason}")]
        public static partial void ReplicaKilled(ILogger logger, string application, string deployment, string replicaId, int pid, string nodeId, bool restart, string reason);

        [LoggerMessage(110, LogLevel.Information, "Started replica {Application}/{Deployment}#{ReplicaId} as pid {Pid} on node {NodeId}")]
        public static partial void ReplicaStarted(ILogger logger, string application, string deployment, string replicaId, int pid, string nodeId);

        [LoggerMessage(111, LogLevel.Warning, "Could not publish the exit of replica {ReplicaId}: {Error}")]
        public static partial void PublishFailed(ILogger logger, string? replicaId, string error);
    }
}
