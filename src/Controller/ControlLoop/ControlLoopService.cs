using System.Text.Json;
using Microsoft.Extensions.Options;
using ServeAspire.Config;
using ServeAspire.Controller.Autoscaling;
using ServeAspire.Controller.Checkpoints;
using ServeAspire.Controller.Deployments;
using ServeAspire.Controller.Health;
using ServeAspire.Controller.Leadership;
using ServeAspire.Controller.Nodes;
using ServeAspire.Controller.Proxies;
using ServeAspire.Controller.Routing;
using ServeAspire.Controller.Telemetry;
using ServeAspire.Model;
using ServeAspire.Runtime;
using ServeAspire.Store;
using StackExchange.Redis;

namespace ServeAspire.Controller.ControlLoop;

/// <summary>
/// The controller's loop (Ray's run_control_loop). It acts only while this instance leads: at the start
/// of each tenure it recovers from the checkpoint (and adopts live replicas); then each tick only
/// delegates, in numbered steps, to the managers: observe nodes → proxies → replica health → decide →
/// publish routes → act → checkpoint → housekeeping. Each step has its own guard, so one failing step
/// never skips the others (a step that needs what a failed one produced is skipped and says so).
/// A node event (replica exit) wakes it at once. A store outage pauses it (logged once); a refused
/// (fenced) write means a newer leader exists: step down at once.
/// </summary>
internal sealed partial class ControlLoopService(
    DeploymentStateManager deployments,
    IClusterStore store,
    INodeClient nodeClient,
    NodeRegistry nodes,
    ProxyStateManager proxies,
    RoutingTablePublisher publisher,
    ReplicaHealthTracker health,
    CheckpointManager checkpoints,
    AutoscalingStateManager autoscaler,
    LeaderState leader,
    TickFailpoint failpoint,
    RecoveryRehearsal rehearsal,
    IDeploymentResolver resolver,
    ConfigLimits limits,
    IOptions<ControllerOptions> options,
    TimeProvider time,
    ILogger<ControlLoopService> logger,
    ControllerMetrics? metrics = null) : BackgroundService
{
    private readonly SemaphoreSlim _wake = new(0, 1);
    private long _recoveredToken;
    private bool _storeDown;

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
        var outageTicks = 0;
        var subscribed = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            var token = leader.Token;
            var storeFailed = false;
            try
            {
                // Subscribed while standing by too (OnEvent ignores events unless leading): one round trip less at a takeover.
                if (!subscribed)
                {
                    await store.SubscribeEventsAsync(OnEvent);
                    subscribed = true;
                }
                if (token == 0)
                {
                    if (Interlocked.Exchange(ref _recoveredToken, 0) != 0) Forget();
                    await rehearsal.RunIfDueAsync(stoppingToken); // a standby keeps its takeover path warm
                }
                else
                {
                    long? tenureStart = null;
                    if (!ReadyFor(token))
                    {
                        tenureStart = time.GetTimestamp();
                        Forget();
                        await RecoverAsync(token, stoppingToken);
                        nodes.Reset(time.GetUtcNow());
                        proxies.Reset();
                        Interlocked.Exchange(ref _recoveredToken, token);
                        Log.RecoveryTime(logger, token, time.GetElapsedTime(tenureStart.Value).TotalMilliseconds);
                    }
                    storeFailed = !await TickAsync(token, stoppingToken);
                    Interlocked.Increment(ref _ticks);
                    if (tenureStart is { } started) Log.FirstTickTime(logger, token, time.GetElapsedTime(started).TotalMilliseconds);
                }
            }
            catch (FencedException ex)
            {
                if (ex.ByNode is null) leader.CountFencedWrite(); // node refusals were counted one by one
                Log.Fenced(logger, token, ex.Message);
                leader.StepDown(ex.Message);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                if (!_storeDown) Log.StorePaused(logger, ex.Message);
                storeFailed = true;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Recovery failed in an unexpected way: logged, retried next time round.
                Log.TickFailed(logger, "recover", ex);
            }
            if (storeFailed) _storeDown = true;
            else if (_storeDown)
            {
                Log.StoreBack(logger);
                _storeDown = false;
            }
            // Back off while the store is away (1, 2, 4 s, at most 5 s); a node event or leadership change still wakes us.
            outageTicks = _storeDown ? outageTicks + 1 : 0;
            var wait = _storeDown ? TimeSpan.FromSeconds(Math.Min(5, Math.Pow(2, outageTicks - 1))) : options.Value.TickInterval;
            if (!await WaitForWakeAsync(wait, stoppingToken)) break;
        }
    }

    /// <summary>Waits for a wake-up or <paramref name="wait"/> on the injected clock.</summary>
    /// <returns>False when the service is stopping.</returns>
    private async Task<bool> WaitForWakeAsync(TimeSpan wait, CancellationToken stoppingToken)
    {
        using var timeout = new CancellationTokenSource(wait, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, timeout.Token);
        try { await _wake.WaitAsync(linked.Token); }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested) { }
        catch (OperationCanceledException) { return false; }
        return true;
    }

    private void Forget()
    {
        deployments.Clear();
        publisher.Reset();
        checkpoints.Reset();
        autoscaler.Reset();
    }

    private void OnEvent(ClusterEvent evt)
    {
        if (!leader.IsLeader) return;
        Log.NodeEvent(logger, evt.Kind, evt.NodeId, evt.ReplicaId, evt.Message);
        // A proxy saw this replica hang request after request: replace it (only once recovered, so the state is this tenure's).
        if (evt.Kind == ClusterEvents.ReplicaUnresponsive && evt.ReplicaId is { } id && ReadyFor(leader.Token))
            deployments.MarkUnresponsive(id, evt.Message ?? "unresponsive", time.GetUtcNow());
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
                deployments.ApplyConfig(result.Config!, doc, checkpoint.AppliedAt);
                var stateJson = await store.LoadStateAsync(cancellationToken);
                var saved = stateJson is null ? null : JsonSerializer.Deserialize<StateCheckpoint>(stateJson, SerializerOptions.Default);
                var replicas = saved?.Replicas ?? [];
                deployments.RestoreReplicas(replicas);
                if (saved?.Autoscaling is { } scaled) deployments.RestoreAutoscaling(scaled);
                Log.Recovered(logger, token, result.Config!.Applications.Count, replicas.Count);
                return;
            }
            Log.CheckpointInvalid(logger, result.Summary);
        }
        Log.RecoveredEmpty(logger, token);
        var (file, text) = options.Value.ServeConfigFile is { Length: > 0 } path && File.Exists(path)
            ? (path, await File.ReadAllTextAsync(path, cancellationToken))
            : (nameof(ControllerOptions.ServeConfigYaml), options.Value.ServeConfigYaml);
        if (!string.IsNullOrWhiteSpace(text))
        {
            var document = ConfigDocument.Parse(text, limits, out var parseError);
            var initial = parseError is null ? ConfigValidator.Validate(document, resolver, limits) : new ConfigValidationResult(null, [parseError], []);
            if (!initial.IsValid)
            {
                Log.InitialConfigInvalid(logger, file, initial.Summary);
                return;
            }
            var now = time.GetUtcNow();
            await store.SaveConfigAsync(JsonSerializer.Serialize(new ConfigCheckpoint(now, document), SerializerOptions.Default), token, cancellationToken);
            deployments.ApplyConfig(initial.Config!, document, now);
            Log.InitialConfigApplied(logger, file, initial.Config!.Applications.Count);
        }
    }

    /// <summary>One tick (internal for the step-isolation tests).</summary>
    /// <returns>False when a step failed because the store was unreachable (the loop backs off).</returns>
    internal async Task<bool> TickAsync(long token, CancellationToken cancellationToken)
    {
        await failpoint.HoldAsync(TickFailpoint.AtTickStart, cancellationToken);
        var tickStarted = time.GetTimestamp();
        var storeOk = true;
        // A trace only for a tick that acts (started once it knows, back-dated to the reconcile step).
        System.Diagnostics.Activity? traced = null;

        // Runs one step under its own guard: a fenced write ends the tenure (rethrown), a store outage
        // or any other failure is logged and the tick goes on with the next step.
        async Task<bool> Step(string name, Func<Task> step)
        {
            using var span = ControllerTracing.StartStep(traced, name);
            try
            {
                await step();
                return true;
            }
            catch (Exception ex) when (Failed(span, ex) || (ex is RedisException or TimeoutException && !cancellationToken.IsCancellationRequested))
            {
                if (!_storeDown && storeOk) Log.StorePaused(logger, $"{name}: {ex.Message}");
                storeOk = false;
                return false;
            }
            catch (Exception ex) when (ex is not FencedException and not OperationCanceledException)
            {
                Log.TickFailed(logger, name, ex);
                return false;
            }
        }

        // 1. Observe the nodes (concurrently, within the observe budget).
        ClusterObservation? observation = null;
        await Step("observe nodes", async () => observation = await nodes.ObserveAsync(token, cancellationToken));
        // 2. Proxies: fold in finished checks, start due ones (never awaited here).
        await Step("proxies", () => proxies.UpdateAsync(cancellationToken));
        // 3. Replica health: read finished checks, start due ones; replicas past the threshold are replaced.
        await Step("replica health", () =>
        {
            var now = time.GetUtcNow();
            var running = deployments.RunningReplicas().Select(r => new ReplicaHealthTracker.Target(r.ReplicaId, r.Url, r.Spec, r.Application)).ToList();
            foreach (var failure in health.Update(running, now, cancellationToken))
                deployments.MarkUnhealthy(failure.ReplicaId, failure.Failures, failure.Error, now);
            return Task.CompletedTask;
        });
        // 3b. Autoscale: fold in the proxies' ongoing-request reports; due decisions move the targets.
        await Step("autoscale", async () =>
        {
            var scaled = deployments.AutoscaledDeployments();
            if (scaled.Count == 0) return;
            var reports = await store.GetOngoingRequestsAsync(cancellationToken);
            var now = time.GetUtcNow();
            foreach (var d in autoscaler.Update(scaled, reports, now)) deployments.Autoscale(d.Key, d.To, d.Reason, now);
        });
        // 4. Decide (only from this tick's observation: acting on an old one could bury live replicas).
        IReadOnlyList<ReplicaAction> actions = [];
        var reconcileStarted = time.GetUtcNow();
        if (observation is not null)
            await Step("reconcile", () =>
            {
                actions = deployments.Reconcile(observation, time.GetUtcNow());
                return Task.CompletedTask;
            });
        // Ambient for the steps below (this async method's own context: it does not leak to the loop).
        using var reconcileSpan = traced = ControllerTracing.StartReconcile(token, actions, reconcileStarted);
        // 5. Publish routes before acting, so replicas leaving are out of every proxy's table first.
        var published = await Step("publish routes", async () =>
        {
            var (timeout, routes) = deployments.BuildRoutes();
            await publisher.PublishAsync(timeout, routes, token, cancellationToken);
        });
        // 6. Act (idempotent calls; a failure is retried by a later tick), only while still the leader
        //    and only once the routes are out.
        if (actions.Count > 0 && published)
            await Step("act", () => ActAsync(actions, token, cancellationToken));
        // 7. Checkpoint placement when it changed.
        await Step("checkpoint", () => checkpoints.SaveIfChangedAsync(token, cancellationToken));
        // 8. Housekeeping: drop registrations dead for longer than the retention.
        await Step("prune nodes", () => nodes.PruneAsync(cancellationToken));
        await Step("prune proxies", () => proxies.PruneAsync(cancellationToken));
        metrics?.ControlLoopDone(time.GetElapsedTime(tickStarted));
        if (!storeOk) reconcileSpan?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, "the store was unreachable");
        return storeOk;
    }

    /// <summary>Marks a traced step failed (an exception filter: always false, so it never catches).</summary>
    private static bool Failed(System.Diagnostics.Activity? span, Exception ex)
    {
        span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, ex.Message);
        return false;
    }

    private async Task ActAsync(IReadOnlyList<ReplicaAction> actions, long token, CancellationToken cancellationToken)
    {
        if (!await store.IsTokenCurrentAsync(token, cancellationToken)) throw new FencedException(token);
        await failpoint.HoldAsync(TickFailpoint.BeforeActing, cancellationToken);
        // Bounded: a thousand starts are a thousand node calls, at most MaxConcurrentNodeCalls at a time.
        FencedException? refused = null;
        await Parallel.ForEachAsync(actions, new ParallelOptions { MaxDegreeOfParallelism = options.Value.MaxConcurrentNodeCalls, CancellationToken = cancellationToken },
            async (action, ct) =>
            {
                if (await ActAsync(action, token, ct) is { } r) Interlocked.CompareExchange(ref refused, r, null);
            });
        // A node that refused our token has seen a newer leader's: stop acting at once (the others were already sent).
        if (refused is not null) throw refused;
    }

    /// <returns>The node's refusal when it had seen a newer leader's token (counted), else null.</returns>
    private async Task<FencedException?> ActAsync(ReplicaAction action, long token, CancellationToken cancellationToken)
    {
        try
        {
            switch (action)
            {
                case StartReplicaAction start:
                    var (accepted, error) = await nodeClient.StartReplicaAsync(start.Node, start.Request, token, cancellationToken);
                    deployments.OnStartResult(start.ReplicaId, accepted, error);
                    if (accepted) metrics?.ReplicaStarted(start.Request);
                    break;
                case ReconfigureReplicaAction reconfigure:
                    var taken = await nodeClient.ReconfigureReplicaAsync(reconfigure.Node, reconfigure.ReplicaId, reconfigure.Request, token, cancellationToken);
                    deployments.OnReconfigureResult(reconfigure.ReplicaId, reconfigure.Request.UserConfigVersion, taken);
                    break;
                case StopReplicaAction stop:
                    var (stopped, unknown) = await nodeClient.StopReplicaAsync(stop.Node, stop.ReplicaId, token, cancellationToken);
                    deployments.OnStopResult(stop.ReplicaId, stopped, unknown, time.GetUtcNow());
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
        [LoggerMessage(402, LogLevel.Error, "Control loop step '{Step}' failed; the other steps go on")]
        public static partial void TickFailed(ILogger logger, string step, Exception ex);
        [LoggerMessage(403, LogLevel.Warning, "Tenure {Token}: recovered from checkpoint: {Applications} application(s), {Replicas} replica(s) to adopt")]
        public static partial void Recovered(ILogger logger, long token, int applications, int replicas);
        [LoggerMessage(404, LogLevel.Error, "The checkpointed config no longer validates ({Summary}); starting empty")]
        public static partial void CheckpointInvalid(ILogger logger, string summary);
        [LoggerMessage(405, LogLevel.Information, "Node event {Kind} from {NodeId}: replica {ReplicaId} {Message}")]
        public static partial void NodeEvent(ILogger logger, string kind, string nodeId, string? replicaId, string? message);
        [LoggerMessage(408, LogLevel.Error, "Initial Serve config {File} is invalid: {Summary}")]
        public static partial void InitialConfigInvalid(ILogger logger, string file, string summary);
        [LoggerMessage(409, LogLevel.Information, "Applied the initial Serve config {File}: {Applications} application(s)")]
        public static partial void InitialConfigApplied(ILogger logger, string file, int applications);
        [LoggerMessage(413, LogLevel.Information, "Tenure {Token}: recovery took {ElapsedMs:F0} ms (checkpoint read and restored; the API answers from here)")]
        public static partial void RecoveryTime(ILogger logger, long token, double elapsedMs);
        [LoggerMessage(414, LogLevel.Information, "Tenure {Token}: first tick done {ElapsedMs:F0} ms after the recovery began (nodes observed, routes published)")]
        public static partial void FirstTickTime(ILogger logger, long token, double elapsedMs);
        [LoggerMessage(407, LogLevel.Information, "Tenure {Token}: no checkpoint, starting empty")]
        public static partial void RecoveredEmpty(ILogger logger, long token);
    }
}
