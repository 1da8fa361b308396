using System.Text.Json.Nodes;
using ServeAspire.Config;
using ServeAspire.Controller.Checkpoints;
using ServeAspire.Controller.Placement;
using ServeAspire.Model;

namespace ServeAspire.Controller.Deployments;

/// <summary>
/// Every application and deployment the controller manages (Ray's DeploymentStateManager, with the
/// applications it belongs to): one <see cref="DeploymentState"/> per deployment, each holding its
/// replicas in a <see cref="ReplicaStateContainer"/>, plus an index replica id → deployment so an
/// action result or a health report finds its replica in O(1). Pure state: no sockets, processes or
/// Redis. The control loop feeds it observations and performs the actions it returns; every method
/// is safe to run again.
/// </summary>
public sealed partial class DeploymentStateManager(TimeSpan routeWithdrawDelay, int deadHistory, Func<string> newReplicaId, ILogger<DeploymentStateManager> logger, ReplicaLimits? replicaLimits = null)
{
    private readonly ReplicaLimits limits = replicaLimits ?? ReplicaLimits.Default;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, ApplicationState> _apps = [];
    private readonly Dictionary<string, DeploymentState> _byReplica = new(StringComparer.Ordinal);
    private readonly DeadReplicaHistory _dead = new(deadHistory);
    private long _version;

    /// <summary>
    /// Grows with every change to what is checkpointed (a replica added, removed, moved to another
    /// state, or a field of it changed): the checkpoint manager saves only when it moved.
    /// </summary>
    public long Version => Interlocked.Read(ref _version);

    private void Changed() => Interlocked.Increment(ref _version);

    /// <summary>The applied config document, as submitted (null before the first PUT).</summary>
    public JsonNode? ConfigDocument { get; private set; }
    public ServeDeployConfig Config { get; private set; } = ServeDeployConfig.Empty;

    public T Read<T>(Func<IReadOnlyDictionary<string, ApplicationState>, IReadOnlyCollection<DeadReplica>, T> reader)
    {
        lock (_lock) return reader(_apps, _dead.Items);
    }

    /// <summary>Forgets everything (a controller that stops leading; the next tenure recovers from the checkpoint).</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _apps.Clear();
            _byReplica.Clear();
            _dead.Clear();
            Changed();
            Config = ServeDeployConfig.Empty;
            ConfigDocument = null;
        }
    }

    /// <summary>Makes <paramref name="config"/> the target (declarative: apps left out are deleted).</summary>
    public void ApplyConfig(ServeDeployConfig config, JsonNode? document, DateTimeOffset now)
    {
        lock (_lock)
        {
            Config = config;
            ConfigDocument = document?.DeepClone();
            var wanted = config.Applications.ToDictionary(a => a.Name);
            foreach (var (name, app) in _apps)
                if (!wanted.ContainsKey(name) && !app.Deleting)
                {
                    app.Deleting = true;
                    foreach (var d in app.Deployments.Values) d.Deleting = true;
                    Log.ApplicationDeleting(logger, name);
                }
            foreach (var appConfig in config.Applications)
            {
                if (!_apps.TryGetValue(appConfig.Name, out var app))
                {
                    app = new ApplicationState(appConfig, now);
                    _apps[appConfig.Name] = app;
                    Log.ApplicationDeploying(logger, appConfig.Name, appConfig.ImportPath);
                }
                else if (app.Deleting || !JsonNode.DeepEquals(app.Config.Submitted, appConfig.Submitted) || app.Config.RoutePrefix != appConfig.RoutePrefix)
                {
                    app.DeployedAt = now;
                    Log.ApplicationUpdating(logger, appConfig.Name);
                }
                app.Config = appConfig;
                app.Deleting = false;
                var deps = appConfig.Deployments.ToDictionary(d => d.Name);
                foreach (var (name, dep) in app.Deployments)
                    if (!deps.ContainsKey(name)) dep.Deleting = true;
                foreach (var spec in appConfig.Deployments)
                {
                    if (app.Deployments.TryGetValue(spec.Name, out var dep)) dep.SetSpec(spec);
                    else app.Deployments[spec.Name] = new DeploymentState(appConfig.Name, spec, Changed, logger);
                }
            }
        }
    }

    /// <summary>Adds replicas remembered in a checkpoint; the next observation confirms or buries them.</summary>
    public void RestoreReplicas(IEnumerable<ReplicaRecord> replicas)
    {
        lock (_lock)
            foreach (var r in replicas)
                if (_apps.TryGetValue(r.Application, out var app) && app.Deployments.TryGetValue(r.Deployment, out var dep) &&
                    !_byReplica.ContainsKey(r.ReplicaId))
                {
                    // A reconfigure the previous leader sent may never have arrived: send it again unless applied.
                    r.UserConfigSent = r.UserConfigVersion;
                    Track(dep, r);
                    dep.EverPlaced = true;
                }
    }

    /// <summary>One reconcile pass: observe → scale → stop → clean up → status. Returns the calls to make.</summary>
    public IReadOnlyList<ReplicaAction> Reconcile(ClusterObservation observation, DateTimeOffset now)
    {
        lock (_lock)
        {
            var actions = new List<ReplicaAction>();
            var known = ObserveReplicas(observation, now);
            AdoptOrStopUnknown(observation, known, actions);
            Scale(observation, now, actions);
            SendDueStops(observation, now, actions);
            Reconfigure(observation, actions);
            CleanUp();
            foreach (var dep in AllDeployments()) dep.ComputeStatus();
            return actions;
        }
    }

    private HashSet<string> ObserveReplicas(ClusterObservation observation, DateTimeOffset now)
    {
        var known = new HashSet<string>(StringComparer.Ordinal);
        foreach (var dep in AllDeployments())
            foreach (var rec in dep.Replicas.All.ToList())
            {
                known.Add(rec.ReplicaId);
                if (!observation.Nodes.TryGetValue(rec.NodeId, out var node))
                {
                    // A replica we had asked to stop, whose node then left (a drained node exits as soon as its
                    // last replica has): it ended as asked, whichever of the two we saw last.
                    MarkDead(dep, rec, now, rec is { State: ReplicaState.STOPPING, StopSent: true } ? StoppedReason(rec) : $"node {rec.NodeId} is dead (heartbeat expired)");
                    continue;
                }
                if (node.Replicas is null) continue;
                if (rec.NodeInstanceId is not null && rec.NodeInstanceId != node.Replicas.InstanceId)
                {
                    MarkDead(dep, rec, now, $"node {rec.NodeId} restarted");
                    continue;
                }
                if (!observation.TryFindReplica(rec.NodeId, rec.ReplicaId, out var info))
                {
                    if (rec.StartConfirmed) MarkDead(dep, rec, now, $"no longer running on node {rec.NodeId}");
                    continue;
                }
                if (info.Restarts > rec.Restarts && rec.StartConfirmed)
                {
                    // Restarted in place under the same id (the kill API with restart): out of the routes until it is ready
                    // again, its startup clock restarted, and its user_config sent again (the new process began from the first).
                    rec.Restarts = info.Restarts;
                    rec.LastExitCode = info.LastExitCode ?? rec.LastExitCode;
                    rec.StartTime = info.StartedAt;
                    rec.UserConfigSent = null;
                    if (rec.State != ReplicaState.STOPPING && rec.State != ReplicaState.STARTING && info.State == ReplicaProcessState.STARTING)
                    {
                        dep.Replicas.Transition(rec, ReplicaState.STARTING);
                        rec.Url = null;
                    }
                    else if (rec.State == ReplicaState.RUNNING && info.State == ReplicaProcessState.RUNNING)
                        rec.Url = info.Url; // already ready again (between two polls): its new address
                    Log.ReplicaRestarted(logger, dep.Application, dep.Spec.Name, rec.ReplicaId, rec.NodeId, info.Pid, rec.Restarts);
                    Changed();
                }
                else if (info.LastExitCode is { } lastExit && lastExit != rec.LastExitCode)
                {
                    rec.LastExitCode = lastExit;
                    Changed();
                }
                if (rec.NodeInstanceId is null || !rec.StartConfirmed || (info.Pid is { } pid && pid != rec.Pid) ||
                    (info.UserConfigVersion is not null && info.UserConfigVersion != rec.UserConfigVersion) || (rec.CodeVersion is null && info.CodeVersion is not null))
                {
                    rec.NodeInstanceId ??= node.Replicas.InstanceId;
                    rec.StartConfirmed = true;
                    rec.Pid = info.Pid ?? rec.Pid;
                    rec.UserConfigVersion = info.UserConfigVersion ?? rec.UserConfigVersion;
                    rec.CodeVersion ??= info.CodeVersion;
                    Changed();
                }
                // "VERSION: error": only a refusal of the config we want now counts (an older one was superseded).
                if (info.ReconfigureError is { } refused && dep.Spec.UserConfig is not null && refused.StartsWith(dep.UserConfigVersion + ":", StringComparison.Ordinal) &&
                    dep.ReconfigureError is null)
                {
                    dep.ReconfigureError = $"replica {rec.ReplicaId}: {refused[(dep.UserConfigVersion.Length + 1)..].Trim()}";
                    Log.ReconfigureRefused(logger, dep.Application, dep.Spec.Name, rec.ReplicaId, rec.NodeId, dep.UserConfigVersion, dep.ReconfigureError);
                }
                switch (info.State)
                {
                    case ReplicaProcessState.DEAD:
                        if (rec.State == ReplicaState.STARTING)
                        {
                            dep.ConsecutiveStartupFailures++;
                            dep.LastStartupError = info.Message;
                        }
                        MarkDead(dep, rec, now, rec.State == ReplicaState.STOPPING ? StoppedReason(rec) : info.Message ?? "exited", info.ExitCode);
                        break;
                    case ReplicaProcessState.RUNNING when rec.State == ReplicaState.STARTING:
                        rec.Url = info.Url;
                        dep.Replicas.Transition(rec, ReplicaState.RUNNING);
                        dep.ConsecutiveStartupFailures = 0;
                        dep.LastStartupError = null;
                        Log.ReplicaRunning(logger, dep.Application, dep.Spec.Name, rec.ReplicaId, rec.NodeId, rec.Pid);
                        break;
                    case ReplicaProcessState.STOPPING when rec.State != ReplicaState.STOPPING:
                        rec.StopRequestedAt ??= now;
                        rec.StopSent = true;
                        dep.Replicas.Transition(rec, ReplicaState.STOPPING);
                        break;
                }
            }
        return known;
    }

    private void AdoptOrStopUnknown(ClusterObservation observation, HashSet<string> known, List<ReplicaAction> actions)
    {
        foreach (var node in observation.Nodes.Values)
        {
            if (node.Replicas is null) continue;
            foreach (var info in node.Replicas.Replicas)
            {
                if (info.State == ReplicaProcessState.DEAD || known.Contains(info.ReplicaId)) continue;
                var dep = _apps.TryGetValue(info.Application, out var app) && app.Deployments.TryGetValue(info.Deployment, out var d) ? d : null;
                if (dep is { Deleting: false } && info.State != ReplicaProcessState.STOPPING)
                {
                    // Recovery adopts, never restarts: a live replica we had lost track of keeps running.
                    dep.EverPlaced = true;
                    Track(dep, new ReplicaRecord
                    {
                        ReplicaId = info.ReplicaId, Application = info.Application, Deployment = info.Deployment,
                        NodeId = node.Node.NodeId, NodeInstanceId = node.Replicas.InstanceId,
                        State = info.State == ReplicaProcessState.RUNNING ? ReplicaState.RUNNING : ReplicaState.STARTING,
                        Pid = info.Pid, Url = info.Url, StartTime = info.StartedAt, StartConfirmed = true,
                        CodeVersion = info.CodeVersion, UserConfigVersion = info.UserConfigVersion, UserConfigSent = info.UserConfigVersion,
                        Restarts = info.Restarts, LastExitCode = info.LastExitCode,
                    });
                    Log.ReplicaAdopted(logger, info.Application, info.Deployment, info.ReplicaId, node.Node.NodeId, info.Pid);
                }
                else if (info.State != ReplicaProcessState.STOPPING)
                    actions.Add(new StopReplicaAction(node.Node, info.ReplicaId));
            }
        }
    }

    private void Scale(ClusterObservation observation, DateTimeOffset now, List<ReplicaAction> actions)
    {
        var liveNodes = observation.PlaceableNodes();
        var draining = observation.Nodes.Values.Where(n => n.Node.Draining).Select(n => n.Node.NodeId).ToHashSet(StringComparer.Ordinal);

        // Pass 1, everything that stops: deleted deployments, draining nodes, scale-downs, starts that
        // took too long. A new config supersedes the old at once, and what leaves frees room first.
        foreach (var dep in AllDeployments())
        {
            if (dep.Deleting)
            {
                foreach (var r in dep.Alive.ToList()) BeginStop(dep, r, now, "deployment deleted");
                continue;
            }
            // A draining node's replicas leave the routes now and stop gracefully; replacements go elsewhere.
            if (draining.Count > 0)
                foreach (var r in dep.Alive.Where(r => draining.Contains(r.NodeId)).ToList()) BeginStop(dep, r, now, $"node {r.NodeId} is draining");
            foreach (var r in dep.Replicas.In(ReplicaState.STARTING).Where(r => now - r.StartTime >= limits.StartupTimeout).ToList())
            {
                // A constructor that never finishes is a constructor failure (retried, then DEPLOY_FAILED).
                dep.ConsecutiveStartupFailures++;
                dep.LastStartupError = $"replica {r.ReplicaId} did not become ready within {limits.StartupTimeout.TotalSeconds:F0} s";
                BeginStop(dep, r, now, dep.LastStartupError);
            }
            RollOutdated(dep, now);
            var current = dep.Alive.Where(dep.IsCurrent).ToList();
            var excess = current.Count - dep.TargetReplicas;
            if (excess > 0)
                foreach (var r in DeploymentScheduler.ChooseVictims(current, excess, r => r.NodeId, r => r.State == ReplicaState.STARTING, r => r.StartTime))
                    BeginStop(dep, r, now, "scaling down");
        }

        // Pass 2, starts, bounded: a node takes no more processes than it advertises (stopping ones
        // still count until they are gone), and no more than MaxStartingPerNode start at once.
        // The per-node counts are taken once per pass (O(replicas)), then kept up to date as we place.
        var occupied = new Dictionary<string, int>(StringComparer.Ordinal);
        var startingOn = new Dictionary<string, int>(StringComparer.Ordinal);
        var totals = new Dictionary<string, int>(StringComparer.Ordinal);
        var stoppingOn = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var dep in AllDeployments())
            foreach (var r in dep.Replicas.All)
            {
                Increment(occupied, r.NodeId);
                if (r.State == ReplicaState.STOPPING) Increment(stoppingOn, r.NodeId);
                if (r.State == ReplicaState.STARTING) Increment(startingOn, r.NodeId);
                if (r.IsAlive) Increment(totals, r.NodeId);
            }
        int Capacity(string node) => observation.Nodes[node].Node.Capacity is > 0 and var c ? c : int.MaxValue;
        int CapacityRoom(string node) => Math.Max(0, Capacity(node) - occupied.GetValueOrDefault(node));
        foreach (var dep in AllDeployments())
        {
            dep.PlacementNote = null;
            if (dep.Deleting || dep.Failed) continue;
            var aliveCount = 0;
            var outdatedAlive = 0;
            foreach (var r in dep.Alive)
                if (dep.IsCurrent(r)) aliveCount++;
                else outdatedAlive++;
            var target = dep.TargetReplicas;
            if (aliveCount >= target) continue;
            if (!dep.EverPlaced && observation.FirstPlacementHold is { } hold)
            {
                // A fresh deployment waits (bounded) for every node to register, so it is spread evenly.
                dep.PlacementNote = hold;
                continue;
            }
            // The spread share counts replicas of the current version only: outdated ones are leaving, and
            // counting them made every node "full" when the target is a multiple of the node count, so a
            // rolling update never started (issue 26). max_replicas_per_node is a hard cap on the processes
            // of the deployment on a node, so it counts every alive replica, old or new; so does capacity.
            var hardCap = dep.Spec.MaxReplicasPerNode ?? int.MaxValue;
            var maxPerNode = dep.Spec.MaxReplicasPerNode is null ? DeploymentScheduler.MaxPerNode(target, liveNodes.Count, null) : int.MaxValue;
            var perNode = new Dictionary<string, int>(StringComparer.Ordinal);
            var perNodeAll = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var r in dep.Alive)
            {
                Increment(perNodeAll, r.NodeId);
                if (dep.IsCurrent(r)) Increment(perNode, r.NodeId);
            }
            int HardCapRoom(string node) => Math.Max(0, hardCap - perNodeAll.GetValueOrDefault(node));
            var room = new Dictionary<string, int>(liveNodes.Count, StringComparer.Ordinal);
            foreach (var n in liveNodes) room[n] = Math.Min(Math.Min(CapacityRoom(n), HardCapRoom(n)), limits.MaxStartingPerNode - startingOn.GetValueOrDefault(n));
            var wanted = target - aliveCount;
            // A rolling update runs at most MaxSurge replicas above the target (old and new together).
            var surgeRoom = outdatedAlive == 0 ? wanted : target + limits.MaxSurge(target) - aliveCount - outdatedAlive;
            var startNow = Math.Max(0, Math.Min(Math.Min(wanted, surgeRoom), limits.MaxStartingPerDeployment - dep.Starting));
            var placed = DeploymentScheduler.Place(startNow, liveNodes, perNode, totals, maxPerNode, room).ToList();
            if (placed.Count < startNow && dep.Spec.MaxReplicasPerNode is null)
            {
                // The default per-node share only spreads (Ray's SPREAD is soft): the share of a node
                // that is full (capacity, not start slots: those free up) goes to the nodes with room.
                var afterFirst = perNode.ToDictionary(StringComparer.Ordinal);
                var placedOn = new Dictionary<string, int>(StringComparer.Ordinal);
                foreach (var n in placed)
                {
                    Increment(afterFirst, n);
                    Increment(placedOn, n);
                    room[n]--;
                }
                var stranded = liveNodes.Where(n => CapacityRoom(n) - placedOn.GetValueOrDefault(n) <= 0)
                    .Sum(n => Math.Max(0, maxPerNode - afterFirst.GetValueOrDefault(n)));
                if (stranded > 0)
                    placed.AddRange(DeploymentScheduler.Place(Math.Min(stranded, startNow - placed.Count), liveNodes, afterFirst, totals, int.MaxValue, room));
            }
            foreach (var nodeId in placed)
            {
                var userConfigVersion = dep.Spec.UserConfig is null ? null : dep.UserConfigVersion;
                var rec = new ReplicaRecord
                {
                    ReplicaId = newReplicaId(), Application = dep.Application, Deployment = dep.Spec.Name,
                    NodeId = nodeId, StartTime = now, CodeVersion = dep.Spec.CodeVersion, UserConfigSent = userConfigVersion,
                };
                Track(dep, rec);
                dep.EverPlaced = true;
                Increment(totals, nodeId);
                Increment(occupied, nodeId);
                Increment(startingOn, nodeId);
                Increment(perNode, nodeId);
                Increment(perNodeAll, nodeId);
                actions.Add(new StartReplicaAction(observation.Nodes[nodeId].Node, new StartReplicaRequest(
                    rec.ReplicaId, dep.Application, dep.Spec.Name, dep.Spec.ImportPath,
                    dep.Spec.GracefulShutdownTimeoutS, dep.Spec.GracefulShutdownWaitLoopS,
                    dep.Spec.CodeVersion, dep.Spec.EnvVars?.Values, dep.Spec.UserConfig, userConfigVersion)));
                Log.ReplicaPlaced(logger, dep.Application, dep.Spec.Name, rec.ReplicaId, nodeId);
            }
            // Replicas that fit nowhere (as Ray reports unschedulable ones): said in the status, placed when room appears.
            var fits = liveNodes.Sum(n => (long)Math.Min(CapacityRoom(n), HardCapRoom(n)));
            var unplaced = wanted - placed.Count - fits;
            if (liveNodes.Count == 0 && wanted > 0)
                dep.PlacementNote = $"{wanted} replica(s) cannot be placed: no live node";
            else if (outdatedAlive > 0 && fits == 0 && placed.Count == 0 && startNow > 0 && dep.Starting == 0 &&
                     !liveNodes.Any(n => HardCapRoom(n) > 0 && stoppingOn.GetValueOrDefault(n) > 0))
                MakeRoomForRollout(dep, liveNodes, now); // no slot is free, nor about to be (a stopping replica's)
            else if (unplaced > 0)
            {
                var capacityLeft = liveNodes.Sum(n => (long)CapacityRoom(n));
                dep.PlacementNote = dep.Spec.MaxReplicasPerNode is { } m && capacityLeft >= unplaced
                    ? $"{unplaced} replica(s) cannot be placed: max_replicas_per_node is {m} and there are {liveNodes.Count} live node(s); they are placed when nodes join"
                    : $"{unplaced} replica(s) cannot be placed: the {liveNodes.Count} live node(s) are full ({liveNodes.Sum(n => (long)occupied.GetValueOrDefault(n))} of {liveNodes.Sum(n => (long)Math.Min(Capacity(n), 1_000_000))} replica slots used); they are placed when capacity appears";
            }
        }
    }

    /// <summary>
    /// A rolling update (Ray's version change that needs new replicas): replicas of another code version
    /// leave only as replicas of the current one run, so RUNNING never drops below the target; an
    /// outdated replica that never served (STARTING) goes at once. Starts are bounded in pass 2 by
    /// <see cref="ReplicaLimits.MaxSurge"/>. A new version that keeps failing (DEPLOY_FAILED) runs no
    /// replica, so nothing old is stopped: the previous version keeps serving.
    /// </summary>
    private void RollOutdated(DeploymentState dep, DateTimeOffset now)
    {
        List<ReplicaRecord>? outdatedRunning = null;
        var currentRunning = 0;
        foreach (var r in dep.Alive.ToList())
        {
            if (dep.IsCurrent(r))
            {
                if (r.State == ReplicaState.RUNNING) currentRunning++;
            }
            else if (r.State == ReplicaState.RUNNING) (outdatedRunning ??= []).Add(r);
            else BeginStop(dep, r, now, $"rolling update to version {dep.Spec.CodeVersion}: an outdated replica that is not serving yet");
        }
        if (outdatedRunning is null) return;
        var canStop = Math.Min(outdatedRunning.Count, currentRunning + outdatedRunning.Count - dep.TargetReplicas);
        foreach (var r in outdatedRunning.OrderBy(r => r.StartTime).Take(Math.Max(0, canStop)))
            BeginStop(dep, r, now, $"rolling update to version {dep.Spec.CodeVersion}: replaced by a RUNNING replica of the new version");
    }

    /// <summary>
    /// A rolling update with no room to surge (every live node is at its capacity or at
    /// max_replicas_per_node, old replicas included, and no new replica is starting): as Ray does,
    /// outdated replicas stop first and their replacements take the slots they free, at most
    /// <see cref="ReplicaLimits.MaxSurge"/> at once, so RUNNING stays at or above target − MaxSurge.
    /// While even one slot is free the surge path is used instead, and RUNNING never drops.
    /// </summary>
    private void MakeRoomForRollout(DeploymentState dep, IReadOnlyList<string> liveNodes, DateTimeOffset now)
    {
        var placeable = liveNodes.ToHashSet(StringComparer.Ordinal);
        var inTransition = dep.Replicas.In(ReplicaState.STOPPING).Count(r => !dep.IsCurrent(r));
        var allowed = limits.MaxSurge(dep.TargetReplicas) - inTransition;
        if (allowed <= 0) return;
        var candidates = dep.Alive.Where(r => !dep.IsCurrent(r) && r.State == ReplicaState.RUNNING && placeable.Contains(r.NodeId)).ToList();
        foreach (var r in DeploymentScheduler.ChooseVictims(candidates, Math.Min(allowed, dep.TargetReplicas - dep.Alive.Count(dep.IsCurrent)), r => r.NodeId, _ => false, r => r.StartTime))
            BeginStop(dep, r, now, $"rolling update to version {dep.Spec.CodeVersion}: making room for a replica of the new version (no node has room for one more)");
    }

    /// <summary>
    /// Lightweight updates in place (Ray's reconfigure): each RUNNING replica of the current code version
    /// that has not applied the current user_config is handed it once; a refused call is retried next tick.
    /// </summary>
    private void Reconfigure(ClusterObservation observation, List<ReplicaAction> actions)
    {
        foreach (var dep in AllDeployments())
        {
            if (dep.Deleting || dep.Spec.UserConfig is not { } userConfig || dep.ReconfigureError is not null) continue;
            var version = dep.UserConfigVersion;
            foreach (var rec in dep.Replicas.In(ReplicaState.RUNNING))
            {
                if (!dep.IsCurrent(rec) || rec.UserConfigVersion == version || rec.UserConfigSent == version) continue;
                if (!observation.Nodes.TryGetValue(rec.NodeId, out var node) || node.Replicas is null) continue;
                rec.UserConfigSent = version;
                Changed();
                actions.Add(new ReconfigureReplicaAction(node.Node, rec.ReplicaId, new ReconfigureReplicaRequest(userConfig, version)));
                Log.Reconfiguring(logger, dep.Application, dep.Spec.Name, rec.ReplicaId, rec.NodeId, version);
            }
        }
    }

    /// <summary>Result of a reconfigure call: a call the node did not take is sent again next tick.</summary>
    public void OnReconfigureResult(string replicaId, string version, bool accepted)
    {
        lock (_lock)
        {
            var (_, rec) = Find(replicaId);
            if (rec is null || accepted || rec.UserConfigSent != version) return;
            rec.UserConfigSent = null;
            Changed();
        }
    }

    private static void Increment(Dictionary<string, int> counts, string key) =>
        System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(counts, key, out _)++;

    private void BeginStop(DeploymentState dep, ReplicaRecord rec, DateTimeOffset now, string reason)
    {
        // Out of the routing table now; the node is told after routeWithdrawDelay, once proxies have the new table.
        if (!dep.Replicas.Transition(rec, ReplicaState.STOPPING)) return;
        rec.StopRequestedAt = now;
        rec.StopReason = reason;
        Log.ReplicaStopping(logger, dep.Application, dep.Spec.Name, rec.ReplicaId, rec.NodeId, reason);
    }

    private void SendDueStops(ClusterObservation observation, DateTimeOffset now, List<ReplicaAction> actions)
    {
        foreach (var dep in AllDeployments())
            foreach (var rec in dep.Replicas.In(ReplicaState.STOPPING))
                if (!rec.StopSent && now - rec.StopRequestedAt >= routeWithdrawDelay &&
                    observation.Nodes.TryGetValue(rec.NodeId, out var node) && node.Replicas is not null)
                    actions.Add(new StopReplicaAction(node.Node, rec.ReplicaId));
    }

    /// <summary>Result of a start call: a refused start is forgotten and placed again next tick.</summary>
    public void OnStartResult(string replicaId, bool accepted, string? error)
    {
        lock (_lock)
        {
            var (dep, rec) = Find(replicaId);
            if (dep is null || rec is null) return;
            if (accepted)
            {
                rec.StartConfirmed = true;
                Changed();
            }
            else
            {
                Untrack(dep, rec);
                Log.StartFailed(logger, dep.Application, dep.Spec.Name, replicaId, rec.NodeId, error);
            }
        }
    }

    /// <summary>Result of a stop call; a replica its node does not know is gone already.</summary>
    public void OnStopResult(string replicaId, bool accepted, bool unknownToNode, DateTimeOffset now)
    {
        lock (_lock)
        {
            var (dep, rec) = Find(replicaId);
            if (dep is null || rec is null) return;
            if (accepted)
            {
                rec.StopSent = true;
                Changed();
            }
            else if (unknownToNode) MarkDead(dep, rec, now, StoppedReason(rec));
        }
    }

    private static string StoppedReason(ReplicaRecord rec) => rec.StopReason is null ? "stopped" : $"stopped: {rec.StopReason}";

    /// <summary>
    /// A replica failed <paramref name="failures"/> health checks in a row: out of the routing table
    /// now, stopped gracefully, and (no longer counted as alive) replaced by the next reconcile.
    /// </summary>
    public void MarkUnhealthy(string replicaId, int failures, string error, DateTimeOffset now)
    {
        lock (_lock)
        {
            var (dep, rec) = Find(replicaId);
            if (dep is null || rec is null || rec.State != ReplicaState.RUNNING) return;
            Log.ReplicaUnhealthy(logger, dep.Application, dep.Spec.Name, replicaId, rec.NodeId, rec.Pid, failures, error);
            dep.HealthFailure = $"replica {replicaId}: {error}";
            BeginStop(dep, rec, now, $"health check failed {failures} times in a row ({error})");
            dep.ComputeStatus();
        }
    }

    /// <summary>
    /// A proxy reports that requests to this replica keep hitting request_timeout_s (it hangs in
    /// CallAsync, though it may pass its health check): handled like a failed health check.
    /// </summary>
    /// <returns>False when the replica is unknown or not RUNNING (already being replaced).</returns>
    public bool MarkUnresponsive(string replicaId, string reason, DateTimeOffset now)
    {
        lock (_lock)
        {
            var (dep, rec) = Find(replicaId);
            if (dep is null || rec is null || rec.State != ReplicaState.RUNNING) return false;
            // One at a time per deployment: when every replica is slow (overload, or request_timeout_s
            // too short for the model), replacing them all at once would turn slowness into an outage.
            if (dep.Replicas.In(ReplicaState.STOPPING).Any(r => r.StopReason?.StartsWith(UnresponsivePrefix, StringComparison.Ordinal) == true))
            {
                Log.UnresponsiveDeferred(logger, dep.Application, dep.Spec.Name, replicaId, reason);
                return false;
            }
            Log.ReplicaUnresponsive(logger, dep.Application, dep.Spec.Name, replicaId, rec.NodeId, rec.Pid, reason);
            dep.HealthFailure = $"replica {replicaId}: {reason}";
            BeginStop(dep, rec, now, UnresponsivePrefix + reason);
            dep.ComputeStatus();
            return true;
        }
    }

    private const string UnresponsivePrefix = "unresponsive: ";

    /// <summary>RUNNING replicas with the options their health checks use.</summary>
    public IReadOnlyList<(string ReplicaId, string Url, DeploymentSpec Spec, string Application)> RunningReplicas()
    {
        lock (_lock)
            return AllDeployments().Where(d => !d.Deleting)
                .SelectMany(d => d.Replicas.In(ReplicaState.RUNNING).Where(r => r.Url is not null).Select(r => (r.ReplicaId, r.Url!, d.Spec, d.Application)))
                .ToList();
    }

    /// <summary>O(1): through the replica index, not a search of every deployment.</summary>
    private (DeploymentState?, ReplicaRecord?) Find(string replicaId) =>
        _byReplica.TryGetValue(replicaId, out var dep) && dep.Replicas.TryGet(replicaId, out var rec) ? (dep, rec) : (null, null);

    private void Track(DeploymentState dep, ReplicaRecord rec)
    {
        dep.Replicas.Add(rec);
        _byReplica[rec.ReplicaId] = dep;
    }

    private void Untrack(DeploymentState dep, ReplicaRecord rec)
    {
        dep.Replicas.Remove(rec);
        _byReplica.Remove(rec.ReplicaId);
    }

    private void CleanUp()
    {
        foreach (var (name, app) in _apps.ToList())
        {
            foreach (var (depName, dep) in app.Deployments.ToList())
                if (dep.Deleting && dep.Replicas.Count == 0) app.Deployments.Remove(depName);
            if (app.Deleting && app.Deployments.Count == 0)
            {
                _apps.Remove(name);
                Log.ApplicationDeleted(logger, name);
            }
        }
    }

    private void MarkDead(DeploymentState dep, ReplicaRecord rec, DateTimeOffset now, string reason, int? exitCode = null)
    {
        Untrack(dep, rec);
        _dead.Add(new DeadReplica(rec.ReplicaId, rec.Application, rec.Deployment, rec.NodeId, rec.Pid, now, reason, exitCode, rec.Restarts));
        if (reason.StartsWith("stopped", StringComparison.Ordinal)) Log.ReplicaStopped(logger, dep.Application, dep.Spec.Name, rec.ReplicaId, rec.NodeId);
        else Log.ReplicaDied(logger, dep.Application, dep.Spec.Name, rec.ReplicaId, rec.NodeId, rec.Pid, reason);
    }

    private IEnumerable<DeploymentState> AllDeployments() => _apps.Values.SelectMany(a => a.Deployments.Values).ToList();

    /// <summary>The routes proxies should use: RUNNING replicas only, never STARTING or STOPPING ones.</summary>
    public (double? RequestTimeoutS, IReadOnlyList<RouteEntry> Routes) BuildRoutes()
    {
        lock (_lock)
        {
            var routes = _apps.Values
                .Where(a => !a.Deleting && a.Config.RoutePrefix is not null)
                .SelectMany(a => a.Deployments.Values.Where(d => !d.Deleting).Select(d => new RouteEntry(
                    a.Config.RoutePrefix!, a.Name, d.Spec.Name, d.Spec.MaxOngoingRequests, d.Spec.MaxQueuedRequests, d.Spec.RetryOnFailure,
                    d.Replicas.In(ReplicaState.RUNNING).Where(r => r.Url is not null)
                        .OrderBy(r => r.ReplicaId, StringComparer.Ordinal)
                        .Select(r => new ReplicaEndpoint(r.ReplicaId, r.Url!, r.NodeId)).ToList(),
                    d.Spec.Autoscaling is { MinReplicas: 0 })))
                .OrderBy(r => r.RoutePrefix, StringComparer.Ordinal)
                .ToList();
            return (Config.HttpOptions.RequestTimeoutS, routes);
        }
    }

    /// <summary>Autoscaled deployments (not being deleted) with their bounds and current target.</summary>
    public IReadOnlyList<(string Key, AutoscalingSpec Spec, int Current)> AutoscaledDeployments()
    {
        lock (_lock)
            return AllDeployments().Where(d => !d.Deleting && d.Spec.Autoscaling is not null)
                .Select(d => (RouteEntry.KeyOf(d.Application, d.Spec.Name), d.Spec.Autoscaling!, d.TargetReplicas)).ToList();
    }

    /// <summary>Applies an autoscaling decision (the next reconcile starts or stops replicas to match).</summary>
    public void Autoscale(string key, int target, string reason, DateTimeOffset now)
    {
        lock (_lock)
            if (FindDeployment(key) is { } dep) dep.Autoscale(target, reason, now);
    }

    /// <summary>Each autoscaled deployment's target, for the checkpoint.</summary>
    public IReadOnlyList<AutoscalingCheckpoint> AutoscalingTargets()
    {
        lock (_lock)
            return AllDeployments().Where(d => d.Spec.Autoscaling is not null && d.AutoscaledTarget is not null)
                .Select(d => new AutoscalingCheckpoint(d.Application, d.Spec.Name, d.AutoscaledTarget!.Value, d.ScalingDecision, d.ScalingDecidedAt)).ToList();
    }

    /// <summary>Restores the autoscaler's targets from a checkpoint (after <see cref="ApplyConfig"/>).</summary>
    public void RestoreAutoscaling(IEnumerable<AutoscalingCheckpoint> targets)
    {
        lock (_lock)
            foreach (var t in targets)
                if (FindDeployment(RouteEntry.KeyOf(t.Application, t.Deployment)) is { Spec.Autoscaling: not null } dep)
                    dep.RestoreAutoscaling(t.Target, t.Decision, t.DecidedAt);
    }

    private DeploymentState? FindDeployment(string key)
    {
        var cut = key.IndexOf('\n', StringComparison.Ordinal);
        if (cut < 0) return null;
        return _apps.TryGetValue(key[..cut], out var app) && app.Deployments.TryGetValue(key[(cut + 1)..], out var dep) ? dep : null;
    }

    public IReadOnlyList<ReplicaRecord> AllReplicas()
    {
        lock (_lock) return AllDeployments().SelectMany(d => d.Replicas.All).ToList();
    }

    private static partial class Log
    {
        [LoggerMessage(300, LogLevel.Information, "Deploying application {Application} ({ImportPath})")]
        public static partial void ApplicationDeploying(ILogger logger, string application, string importPath);
        [LoggerMessage(301, LogLevel.Information, "Updating application {Application}")]
        public static partial void ApplicationUpdating(ILogger logger, string application);
        [LoggerMessage(302, LogLevel.Information, "Deleting application {Application}")]
        public static partial void ApplicationDeleting(ILogger logger, string application);
        [LoggerMessage(303, LogLevel.Information, "Application {Application} deleted")]
        public static partial void ApplicationDeleted(ILogger logger, string application);
        [LoggerMessage(310, LogLevel.Information, "Placing replica {Application}/{Deployment}#{ReplicaId} on node {NodeId}")]
        public static partial void ReplicaPlaced(ILogger logger, string application, string deployment, string replicaId, string nodeId);
        [LoggerMessage(330, LogLevel.Warning, "Replica {Application}/{Deployment}#{ReplicaId} on node {NodeId} was restarted in place as pid {Pid} (restart {Restarts}): STARTING until ready")]
        public static partial void ReplicaRestarted(ILogger logger, string application, string deployment, string replicaId, string nodeId, int? pid, int restarts);

        [LoggerMessage(311, LogLevel.Information, "Replica {Application}/{Deployment}#{ReplicaId} on node {NodeId} is RUNNING (pid {Pid})")]
        public static partial void ReplicaRunning(ILogger logger, string application, string deployment, string replicaId, string nodeId, int? pid);
        [LoggerMessage(312, LogLevel.Information, "Stopping replica {Application}/{Deployment}#{ReplicaId} on node {NodeId}: {Reason}")]
        public static partial void ReplicaStopping(ILogger logger, string application, string deployment, string replicaId, string nodeId, string reason);
        [LoggerMessage(313, LogLevel.Information, "Replica {Application}/{Deployment}#{ReplicaId} on node {NodeId} stopped")]
        public static partial void ReplicaStopped(ILogger logger, string application, string deployment, string replicaId, string nodeId);
        [LoggerMessage(314, LogLevel.Warning, "Replica {Application}/{Deployment}#{ReplicaId} on node {NodeId} (pid {Pid}) died: {Reason}")]
        public static partial void ReplicaDied(ILogger logger, string application, string deployment, string replicaId, string nodeId, int? pid, string reason);
        [LoggerMessage(315, LogLevel.Information, "Adopted live replica {Application}/{Deployment}#{ReplicaId} on node {NodeId} (pid {Pid})")]
        public static partial void ReplicaAdopted(ILogger logger, string application, string deployment, string replicaId, string nodeId, int? pid);
        [LoggerMessage(317, LogLevel.Warning, "Replica {Application}/{Deployment}#{ReplicaId} on node {NodeId} (pid {Pid}) is UNHEALTHY after {Failures} failed health checks: {Error}")]
        public static partial void ReplicaUnhealthy(ILogger logger, string application, string deployment, string replicaId, string nodeId, int? pid, int failures, string error);
        [LoggerMessage(318, LogLevel.Warning, "Replica {Application}/{Deployment}#{ReplicaId} on node {NodeId} (pid {Pid}) is UNHEALTHY: {Reason}")]
        public static partial void ReplicaUnresponsive(ILogger logger, string application, string deployment, string replicaId, string nodeId, int? pid, string reason);
        [LoggerMessage(319, LogLevel.Warning, "Replica {Application}/{Deployment}#{ReplicaId} reported unresponsive ({Reason}); not replaced now: another replica of the deployment is being replaced for the same reason")]
        public static partial void UnresponsiveDeferred(ILogger logger, string application, string deployment, string replicaId, string reason);
        [LoggerMessage(321, LogLevel.Information, "Reconfiguring replica {Application}/{Deployment}#{ReplicaId} on node {NodeId}: user_config version {Version}")]
        public static partial void Reconfiguring(ILogger logger, string application, string deployment, string replicaId, string nodeId, string version);
        [LoggerMessage(322, LogLevel.Warning, "Replica {Application}/{Deployment}#{ReplicaId} on node {NodeId} refused user_config version {Version}: {Error}")]
        public static partial void ReconfigureRefused(ILogger logger, string application, string deployment, string replicaId, string nodeId, string version, string error);
        [LoggerMessage(316, LogLevel.Warning, "Node {NodeId} refused to start replica {Application}/{Deployment}#{ReplicaId}: {Error}")]
        public static partial void StartFailed(ILogger logger, string application, string deployment, string replicaId, string nodeId, string? error);
    }
}
