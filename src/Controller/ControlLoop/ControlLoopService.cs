using System.Text.Json;
using Microsoft.Extensions.Options;
using ServeAspire.Config;
using ServeAspire.Controller.Checkpoints;
using ServeAspire.Controller.Deployments;
using ServeAspire.Controller.Health;
using ServeAspire.Controller.Leadership;
using ServeAspire.Controller.Nodes;
using ServeAspire.Controller.Placement;
using ServeAspire.Controller.Routing;
using ServeAspire.Model;
using ServeAspire.Runtime;
using ServeAspire.Store;
using StackExchange.Redis;

namespace ServeAspire.Controller.ControlLoop;

/// <summary>
/// The controller's loop (Ray's run_control_loop). It acts only while this instance leads: at the start
/// of each tenure it recovers from the checkpoint (and adopts live replicas), then each tick it observes
/// → health-checks → reconciles → publishes routes → acts → checkpoints, every write fenced by the
/// tenure's token. A node event (replica exit) wakes it at once. A store outage pauses it (logged once);
/// a refused (fenced) write means a newer leader exists: step down at once.
/// </summary>
internal sealed partial class ControlLoopService(
    ServeState state,
    IClusterStore store,
    INodeClient nodes,
    RoutingTablePublisher publisher,
    ReplicaHealthTracker health,
    ProxyHealthMonitor proxies,
    LeaderState leader,
    NodeSettleGate settle,
    RegistrationJanitor janitor,
    TickFailpoint failpoint,
    IDeploymentResolver resolver,
    ConfigLimits limits,
    IOptions<ControllerOptions> options,
    TimeProvider time,
    ILogger<ControlLoopService> logger) : BackgroundService
{
    private readonly SemaphoreSlim _wake = new(0, 1);
    private string? _lastCheckpoint;
    private long _recoveredToken;

    /// <summary>Ticks this instance has completed (as leader): lets an observer wait for "the next tick" instead of a time.</summary>
    public long Ticks => Interlocked.Read(ref _ticks);
    private long _ticks;

    /// <summary>True once this tenure's recovery is done: config writes are safe.</summary>
    public bool ReadyFor(long token) => token > 0 && Interlocked.Read(ref _recoveredToken) == token;

    public void Wake()
    {
        try { _wake.Release(); } catch (SemaphoreFullException) { }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        leader.BecameLeader += _ => Wake();
        leader.SteppedDown += _ => Wake();
        var storeDown = false;
        var outageTicks = 0;
        var subscribed = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            var token = leader.Token;
            try
            {
                if (token == 0)
                {
                    if (Interlocked.Exchange(ref _recoveredToken, 0) != 0) Forget();
                }
                else
                {
                    if (!subscribed)
                    {
                        await store.SubscribeEventsAsync(OnEvent);
                        subscribed = true;
                    }
                    if (!ReadyFor(token))
                    {
                        Forget();
                        await RecoverAsync(token, stoppingToken);
                        settle.Reset(time.GetUtcNow());
                        janitor.Reset();
                        Interlocked.Exchange(ref _recoveredToken, token);
                    }
                    await TickAsync(token, stoppingToken);
                    Interlocked.Increment(ref _ticks);
                }
                if (storeDown) Log.StoreBack(logger);
                storeDown = false;
            }
            catch (FencedException ex)
            {
                if (ex.ByNode is null) leader.CountFencedWrite(); // node refusals were counted one by one
                Log.Fenced(logger, token, ex.Message);
                leader.StepDown(ex.Message);
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
            // Back off while the store is away (1, 2, 4 s, at most 5 s); a node event or leadership change still wakes us.
            outageTicks = storeDown ? outageTicks + 1 : 0;
            var wait = storeDown ? TimeSpan.FromSeconds(Math.Min(5, Math.Pow(2, outageTicks - 1))) : options.Value.TickInterval;
            try { await _wake.WaitAsync(wait, stoppingToken); }
            catch (OperationCanceledException) { break; }
        }
    }

    private void Forget()
    {
        state.Clear();
        publisher.Reset();
        _lastCheckpoint = null;
    }

    private void OnEvent(ClusterEvent evt)
    {
        if (!leader.IsLeader) return;
        Log.NodeEvent(logger, evt.Kind, evt.NodeId, evt.ReplicaId, evt.Message);
        // A proxy saw this replica hang request after request: replace it (only once recovered, so the state is this tenure's).
        if (evt.Kind == ClusterEvents.ReplicaUnresponsive && evt.ReplicaId is { } id && ReadyFor(leader.Token))
            state.MarkUnresponsive(id, evt.Message ?? "unresponsive", time.GetUtcNow());
        Wake();
    }

    /// <summary>Reads the checkpoint: the applied config and where every replica ran (adopted, not restarted).</summary>
    private async Task RecoverAsync(long token, CancellationToken cancellationToken)
    {
        var configJson = await store.LoadConfigAsync(cancellationToken);
        if (configJson is not null && JsonSerializer.Deserialize<ConfigCheckpoint>(configJson, SerializerOptions.Default) is { Config: { } doc } checkpoint)
        {
            var result = ConfigValidator.Validate(doc, resolver, limits);
            if (result.IsValid)
            {
                state.ApplyConfig(result.Config!, doc, checkpoint.AppliedAt);
                var stateJson = await store.LoadStateAsync(cancellationToken);
                var replicas = stateJson is null ? [] : JsonSerializer.Deserialize<StateCheckpoint>(stateJson, SerializerOptions.Default)?.Replicas ?? [];
                state.RestoreReplicas(replicas);
                Log.Recovered(logger, token, result.Config!.Applications.Count, replicas.Count);
                return;
            }
            Log.CheckpointInvalid(logger, result.Summary);
        }
        Log.RecoveredEmpty(logger, token);
        if (options.Value.ServeConfigFile is { Length: > 0 } file && File.Exists(file))
        {
            var text = await File.ReadAllTextAsync(file, cancellationToken);
            var document = ConfigDocument.Parse(text, limits, out var parseError);
            var initial = parseError is null ? ConfigValidator.Validate(document, resolver, limits) : new ConfigValidationResult(null, [parseError], []);
            if (!initial.IsValid)
            {
                Log.InitialConfigInvalid(logger, file, initial.Summary);
                return;
            }
            var now = time.GetUtcNow();
            await store.SaveConfigAsync(JsonSerializer.Serialize(new ConfigCheckpoint(now, document), SerializerOptions.Default), token, cancellationToken);
            state.ApplyConfig(initial.Config!, document, now);
            Log.InitialConfigApplied(logger, file, initial.Config!.Applications.Count);
        }
    }

    private async Task TickAsync(long token, CancellationToken cancellationToken)
    {
        await failpoint.HoldAsync(TickFailpoint.AtTickStart, cancellationToken);
        // 1. Observe. A node is alive when its heartbeat is current OR its own API answers as the
        //    registered incarnation: after a store outage heartbeats have lapsed, but that is no
        //    reason to kill anything. Refused connections mean the process is gone.
        var registered = await store.GetNodesAsync(cancellationToken);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(options.Value.NodeCallTimeout);
        var listed = await Task.WhenAll(registered.Select(n => nodes.ListReplicasAsync(n.Registration, token, cts.Token)));
        var observed = new Dictionary<string, NodeObservation>();
        foreach (var ((node, heartbeat), result) in registered.Zip(listed))
        {
            if (result.Gone)
            {
                if (heartbeat) Log.NodeGone(logger, node.NodeId, node.Address);
                continue;
            }
            if (heartbeat || result.Replicas is not null) observed[node.NodeId] = new NodeObservation(node, result.Replicas);
        }
        var now = time.GetUtcNow();
        var observation = new ClusterObservation(observed);
        var placeable = observation.PlaceableNodes();
        var wasOpen = settle.IsOpen;
        observation = observation with { FirstPlacementHold = settle.Hold(placeable, now) };
        if (!wasOpen && settle.IsOpen) Log.NodesSettled(logger, placeable.Count, string.Join(", ", placeable));
        var proxyRegistrations = await proxies.ProbeAsync(cancellationToken);

        // 2. Health: read finished checks, start due ones; replicas past the threshold are replaced.
        now = time.GetUtcNow();
        var running = state.RunningReplicas().Select(r => new ReplicaHealthTracker.Target(r.ReplicaId, r.Url, r.Spec)).ToList();
        foreach (var failure in health.Update(running, now, cancellationToken))
            state.MarkUnhealthy(failure.ReplicaId, failure.Failures, failure.Error, now);

        // 3. Decide.
        var actions = state.Reconcile(observation, now);

        // 4. Publish routes before acting, so replicas leaving are out of every proxy's table first.
        var (timeout, routes) = state.BuildRoutes();
        await publisher.PublishAsync(timeout, routes, token, cancellationToken);

        // 5. Act (idempotent calls; a failure is retried by a later tick) — only while still the leader.
        if (actions.Count > 0)
        {
            if (!await store.IsTokenCurrentAsync(token, cancellationToken)) throw new FencedException(token);
            await failpoint.HoldAsync(TickFailpoint.BeforeActing, cancellationToken);
            var refusals = await Task.WhenAll(actions.Select(a => ActAsync(a, token, cancellationToken)));
            // A node that refused our token has seen a newer leader's: stop acting at once (the others were already sent).
            if (refusals.FirstOrDefault(r => r is not null) is { } refused) throw refused;
        }

        // 6. Checkpoint placement when it changed.
        var checkpoint = JsonSerializer.Serialize(new StateCheckpoint(state.AllReplicas()), SerializerOptions.Default);
        if (checkpoint != _lastCheckpoint)
        {
            await store.SaveStateAsync(checkpoint, token, cancellationToken);
            _lastCheckpoint = checkpoint;
        }

        // 7. Drop registrations dead for longer than the retention (its own guard: housekeeping never fails a tick).
        try
        {
            var all = registered.Select(n => ("node", n.Registration.NodeId, n.Alive || observed.ContainsKey(n.Registration.NodeId)))
                .Concat(proxyRegistrations.Select(p => ("proxy", p.Registration.Name, p.Alive)));
            foreach (var (kind, id) in janitor.Due(all, time.GetUtcNow()))
            {
                await store.ForgetRegistrationAsync(kind, id, cancellationToken);
                Log.RegistrationPruned(logger, kind, id);
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Log.PruneFailed(logger, ex.Message);
        }
    }

    /// <returns>The node's refusal when it had seen a newer leader's token (counted), else null.</returns>
    private async Task<FencedException?> ActAsync(ReplicaAction action, long token, CancellationToken cancellationToken)
    {
        try
        {
            switch (action)
            {
                case StartReplicaAction start:
                    var (accepted, error) = await nodes.StartReplicaAsync(start.Node, start.Request, token, cancellationToken);
                    state.OnStartResult(start.ReplicaId, accepted, error);
                    break;
                case StopReplicaAction stop:
                    var (stopped, unknown) = await nodes.StopReplicaAsync(stop.Node, stop.ReplicaId, token, cancellationToken);
                    state.OnStopResult(stop.ReplicaId, stopped, unknown, time.GetUtcNow());
                    break;
            }
            return null;
        }
        catch (FencedException ex)
        {
            leader.CountFencedNodeCall();
            Log.NodeFenced(logger, ex.ByNode, action.ReplicaId, token);
            return ex;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(420, LogLevel.Warning, "Node {NodeId} refused the call for replica {ReplicaId}: fencing token {Token} is stale")]
        public static partial void NodeFenced(ILogger logger, string? nodeId, string replicaId, long token);
        [LoggerMessage(421, LogLevel.Warning, "Tenure {Token} fenced off: {Reason}; stepping down")]
        public static partial void Fenced(ILogger logger, long token, string reason);
        [LoggerMessage(400, LogLevel.Warning, "The store is unreachable ({Error}); control loop paused, replicas and proxies keep serving")]
        public static partial void StorePaused(ILogger logger, string error);
        [LoggerMessage(401, LogLevel.Information, "The store is reachable again; control loop resumed")]
        public static partial void StoreBack(ILogger logger);
        [LoggerMessage(402, LogLevel.Error, "Control loop tick failed")]
        public static partial void TickFailed(ILogger logger, Exception ex);
        [LoggerMessage(403, LogLevel.Warning, "Tenure {Token}: recovered from checkpoint: {Applications} application(s), {Replicas} replica(s) to adopt")]
        public static partial void Recovered(ILogger logger, long token, int applications, int replicas);
        [LoggerMessage(404, LogLevel.Error, "The checkpointed config no longer validates ({Summary}); starting empty")]
        public static partial void CheckpointInvalid(ILogger logger, string summary);
        [LoggerMessage(405, LogLevel.Information, "Node event {Kind} from {NodeId}: replica {ReplicaId} {Message}")]
        public static partial void NodeEvent(ILogger logger, string kind, string nodeId, string? replicaId, string? message);
        [LoggerMessage(406, LogLevel.Warning, "Node {NodeId} refuses connections at {Address}: its process is gone")]
        public static partial void NodeGone(ILogger logger, string nodeId, string address);
        [LoggerMessage(408, LogLevel.Error, "Initial Serve config {File} is invalid: {Summary}")]
        public static partial void InitialConfigInvalid(ILogger logger, string file, string summary);
        [LoggerMessage(409, LogLevel.Information, "Applied the initial Serve config {File}: {Applications} application(s)")]
        public static partial void InitialConfigApplied(ILogger logger, string file, int applications);
        [LoggerMessage(410, LogLevel.Information, "Node set settled with {Count} live node(s) ({Nodes}): first placements may go ahead")]
        public static partial void NodesSettled(ILogger logger, int count, string nodes);
        [LoggerMessage(411, LogLevel.Information, "Forgot the {Kind} registration {Id}: dead for longer than the retention")]
        public static partial void RegistrationPruned(ILogger logger, string kind, string id);
        [LoggerMessage(412, LogLevel.Warning, "Pruning dead registrations failed ({Error}); retried next tick")]
        public static partial void PruneFailed(ILogger logger, string error);
        [LoggerMessage(407, LogLevel.Information, "Tenure {Token}: no checkpoint, starting empty")]
        public static partial void RecoveredEmpty(ILogger logger, long token);
    }
}
