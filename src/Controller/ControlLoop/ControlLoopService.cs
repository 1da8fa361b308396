using System.Text.Json;
using Microsoft.Extensions.Options;
using ServeAspire.Config;
using ServeAspire.Controller.Checkpoints;
using ServeAspire.Controller.Deployments;
using ServeAspire.Controller.Health;
using ServeAspire.Controller.Nodes;
using ServeAspire.Controller.Routing;
using ServeAspire.Model;
using ServeAspire.Runtime;
using StackExchange.Redis;

namespace ServeAspire.Controller.ControlLoop;

/// <summary>
/// The controller's loop (Ray's run_control_loop): recover from the checkpoint once, then each tick
/// observe → reconcile → publish routes → act → checkpoint. A node event (replica exit) wakes it at
/// once. Store outages pause the loop (logged once) instead of declaring nodes dead.
/// </summary>
internal sealed partial class ControlLoopService(
    ServeState state,
    IClusterStore store,
    INodeClient nodes,
    RoutingTablePublisher publisher,
    ReplicaHealthTracker health,
    IDeploymentResolver resolver,
    IOptions<ControllerOptions> options,
    TimeProvider time,
    ILogger<ControlLoopService> logger) : BackgroundService
{
    private readonly SemaphoreSlim _wake = new(0, 1);
    private string? _lastCheckpoint;

    /// <summary>Completes once recovery from the checkpoint is done (the API waits for it before changing state).</summary>
    public Task Recovered => _recovered.Task;
    private readonly TaskCompletionSource _recovered = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Wake()
    {
        try { _wake.Release(); } catch (SemaphoreFullException) { }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await RecoverAsync(stoppingToken);
        var storeDown = false;
        var subscribed = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (!subscribed)
                {
                    await store.SubscribeEventsAsync(OnEvent);
                    subscribed = true;
                }
                await TickAsync(stoppingToken);
                if (storeDown) Log.StoreBack(logger);
                storeDown = false;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                if (!storeDown) Log.StorePaused(logger, ex.Message);
                storeDown = true;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // One bad tick must never stop the loop.
                Log.TickFailed(logger, ex);
            }
            try { await _wake.WaitAsync(options.Value.TickInterval, stoppingToken); }
            catch (OperationCanceledException) { break; }
        }
    }

    private void OnEvent(ClusterEvent evt)
    {
        Log.NodeEvent(logger, evt.Kind, evt.NodeId, evt.ReplicaId, evt.Message);
        Wake();
    }

    private async Task RecoverAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var configJson = await store.LoadConfigAsync(cancellationToken);
                if (configJson is not null && JsonSerializer.Deserialize<ConfigCheckpoint>(configJson, SerializerOptions.Default) is { Config: { } doc } checkpoint)
                {
                    var result = ConfigValidator.Validate(doc, resolver);
                    if (result.IsValid)
                    {
                        state.ApplyConfig(result.Config!, doc, checkpoint.AppliedAt);
                        var stateJson = await store.LoadStateAsync(cancellationToken);
                        var replicas = stateJson is null ? [] : JsonSerializer.Deserialize<StateCheckpoint>(stateJson, SerializerOptions.Default)?.Replicas ?? [];
                        state.RestoreReplicas(replicas);
                        Log.Recovered(logger, result.Config!.Applications.Count, replicas.Count);
                    }
                    else Log.CheckpointInvalid(logger, result.Summary);
                }
                _recovered.TrySetResult();
                return;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                Log.StorePaused(logger, ex.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), time, cancellationToken);
            }
        }
    }

    private async Task TickAsync(CancellationToken cancellationToken)
    {
        // 1. Observe: live nodes from the store, their replicas from each node.
        var live = await store.GetLiveNodesAsync(cancellationToken);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(options.Value.NodeCallTimeout);
        var listed = await Task.WhenAll(live.Select(n => nodes.ListReplicasAsync(n, cts.Token)));
        foreach (var (node, result) in live.Zip(listed).Where(p => p.Second.Gone)) Log.NodeGone(logger, node.NodeId, node.Address);
        var observation = new ClusterObservation(live.Zip(listed).Where(p => !p.Second.Gone)
            .Select(p => new NodeObservation(p.First, p.Second.Replicas)).ToDictionary(o => o.Node.NodeId));

        // 2. Health: read finished checks, start due ones; replicas past the threshold are replaced.
        var now = time.GetUtcNow();
        var running = state.RunningReplicas().Select(r => new ReplicaHealthTracker.Target(r.ReplicaId, r.Url, r.Spec)).ToList();
        foreach (var failure in health.Update(running, now, cancellationToken))
            state.MarkUnhealthy(failure.ReplicaId, failure.Failures, failure.Error, now);

        // 3. Decide.
        var actions = state.Reconcile(observation, now);

        // 4. Publish routes before acting, so replicas leaving are out of every proxy's table first.
        var (timeout, routes) = state.BuildRoutes();
        await publisher.PublishAsync(timeout, routes, cancellationToken);

        // 5. Act (idempotent calls; a failure is retried by a later tick).
        await Task.WhenAll(actions.Select(a => ActAsync(a, cancellationToken)));

        // 6. Checkpoint placement when it changed.
        var checkpoint = JsonSerializer.Serialize(new StateCheckpoint(state.AllReplicas()), SerializerOptions.Default);
        if (checkpoint != _lastCheckpoint)
        {
            await store.SaveStateAsync(checkpoint, cancellationToken);
            _lastCheckpoint = checkpoint;
        }
    }

    private async Task ActAsync(ReplicaAction action, CancellationToken cancellationToken)
    {
        switch (action)
        {
            case StartReplicaAction start:
                var (accepted, error) = await nodes.StartReplicaAsync(start.Node, start.Request, cancellationToken);
                state.OnStartResult(start.ReplicaId, accepted, error);
                break;
            case StopReplicaAction stop:
                var (stopped, unknown) = await nodes.StopReplicaAsync(stop.Node, stop.ReplicaId, cancellationToken);
                state.OnStopResult(stop.ReplicaId, stopped, unknown, time.GetUtcNow());
                break;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(400, LogLevel.Warning, "The store is unreachable ({Error}); control loop paused, replicas and proxies keep serving")]
        public static partial void StorePaused(ILogger logger, string error);
        [LoggerMessage(401, LogLevel.Information, "The store is reachable again; control loop resumed")]
        public static partial void StoreBack(ILogger logger);
        [LoggerMessage(402, LogLevel.Error, "Control loop tick failed")]
        public static partial void TickFailed(ILogger logger, Exception ex);
        [LoggerMessage(403, LogLevel.Information, "Recovered from checkpoint: {Applications} application(s), {Replicas} replica(s) to adopt")]
        public static partial void Recovered(ILogger logger, int applications, int replicas);
        [LoggerMessage(404, LogLevel.Error, "The checkpointed config no longer validates ({Summary}); starting empty")]
        public static partial void CheckpointInvalid(ILogger logger, string summary);
        [LoggerMessage(406, LogLevel.Warning, "Node {NodeId} refuses connections at {Address}: its process is gone")]
        public static partial void NodeGone(ILogger logger, string nodeId, string address);
        [LoggerMessage(405, LogLevel.Information, "Node event {Kind} from {NodeId}: replica {ReplicaId} {Message}")]
        public static partial void NodeEvent(ILogger logger, string kind, string nodeId, string? replicaId, string? message);
    }
}
