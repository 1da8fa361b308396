using Microsoft.Extensions.Logging.Abstractions;
using ServeAspire.Config;
using ServeAspire.Controller.Deployments;
using ServeAspire.Model;
using ServeAspire.Runtime;

namespace ServeAspire.UnitTests.Deployments;

/// <summary>The controller's state machine against fake node observations: no processes, no Redis.</summary>
public sealed class DeploymentStateManagerTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.UnixEpoch.AddDays(20000);
    private DeploymentStateManager _state;
    private int _ids;
    private readonly Dictionary<string, FakeNode> _nodes = [];

    public DeploymentStateManagerTests()
    {
        _state = new DeploymentStateManager(TimeSpan.FromSeconds(1), 50, () => $"r{_ids++}", NullLogger<DeploymentStateManager>.Instance);
        foreach (var n in new[] { "node-0", "node-1", "node-2" }) _nodes[n] = new FakeNode(n);
    }

    private sealed class FakeNode(string id)
    {
        public NodeRegistration Registration { get; set; } = new(id, id + "-i1", $"http://{id}", 1, DateTimeOffset.UnixEpoch);
        public Dictionary<string, ReplicaProcessInfo> Replicas { get; } = [];
        public bool Answers { get; set; } = true;
    }

    private void UseLimits(ReplicaLimits limits) =>
        _state = new DeploymentStateManager(TimeSpan.FromSeconds(1), 50, () => $"r{_ids++}", NullLogger<DeploymentStateManager>.Instance, limits);

    private void SetCapacity(int capacity)
    {
        foreach (var n in _nodes.Values) n.Registration = n.Registration with { Capacity = capacity };
    }

    private void ApplyYaml(string yaml)
    {
        var result = ConfigValidator.Validate(yaml, new DeploymentCatalog());
        Assert.True(result.IsValid, result.Summary);
        _state.ApplyConfig(result.Config!, null, T0);
    }

    private void AllStopsFinish()
    {
        foreach (var n in _nodes.Values)
            foreach (var (id, r) in n.Replicas.ToList())
                if (r.State == ReplicaProcessState.STOPPING) n.Replicas[id] = r with { State = ReplicaProcessState.DEAD };
    }

    private void Apply(int replicas, string route = "/")
    {
        var result = ConfigValidator.Validate($$"""
            applications:
              - { name: sleepy, route_prefix: "{{route}}", import_path: "Samples:SleepyPid", deployments: [ { name: SleepyPid, num_replicas: {{replicas}} } ] }
            """, new DeploymentCatalog());
        Assert.True(result.IsValid, result.Summary);
        _state.ApplyConfig(result.Config!, null, T0);
    }

    private ClusterObservation Observe() => new(_nodes.Values.ToDictionary(n => n.Registration.NodeId, n => new NodeObservation(n.Registration,
        n.Answers ? new NodeReplicasResponse(n.Registration.NodeId, n.Registration.InstanceId, n.Replicas.Values.ToList()) : null)));

    /// <summary>One tick, with the fake nodes carrying out the actions the way real ones would.</summary>
    private IReadOnlyList<ReplicaAction> Tick(DateTimeOffset now)
    {
        var actions = _state.Reconcile(Observe(), now);
        foreach (var a in actions)
        {
            var node = _nodes[a.Node.NodeId];
            switch (a)
            {
                case StartReplicaAction s:
                    // As a real node: it reports the code version it was given, and the initial user_config as applied.
                    node.Replicas[s.ReplicaId] = new ReplicaProcessInfo(s.ReplicaId, s.Request.Application, s.Request.Deployment, ReplicaProcessState.STARTING, 100 + node.Replicas.Count, null, now, null, null,
                        s.Request.CodeVersion, string.IsNullOrEmpty(s.Request.UserConfigVersion) ? null : s.Request.UserConfigVersion);
                    _state.OnStartResult(s.ReplicaId, true, null);
                    break;
                case ReconfigureReplicaAction rc:
                    Reconfigured.Add(rc);
                    _state.OnReconfigureResult(rc.ReplicaId, rc.Request.UserConfigVersion, true);
                    break;
                case StopReplicaAction st:
                    node.Replicas[st.ReplicaId] = node.Replicas[st.ReplicaId] with { State = ReplicaProcessState.DEAD };
                    _state.OnStopResult(st.ReplicaId, true, false, now);
                    break;
            }
        }
        return actions;
    }

    private void AllConstructorsFinish()
    {
        foreach (var n in _nodes.Values)
            foreach (var (id, r) in n.Replicas.ToList())
                if (r.State == ReplicaProcessState.STARTING) n.Replicas[id] = r with { State = ReplicaProcessState.RUNNING, Url = $"http://127.0.0.1/{id}" };
    }

    private DeploymentState Deployment => _state.Read((apps, _) => apps["sleepy"].Deployments["SleepyPid"]);

    /// <summary>Reconfigure calls the fake nodes took (applied when a test says so, as a replica would report it later).</summary>
    private List<ReconfigureReplicaAction> Reconfigured { get; } = [];

    [Fact]
    public void NewDeployment_IsPlacedTwoPerNode_AndBecomesHealthyWhenConstructorsFinish()
    {
        Apply(6);
        var actions = Tick(T0);
        Assert.Equal(6, actions.OfType<StartReplicaAction>().Count());
        Assert.All(actions.GroupBy(a => a.Node.NodeId), g => Assert.Equal(2, g.Count()));
        Assert.Equal(DeploymentStatus.UPDATING, Deployment.Status);
        Assert.Empty(_state.BuildRoutes().Routes.Single().Replicas); // STARTING replicas get no traffic

        AllConstructorsFinish();
        Assert.Empty(Tick(T0.AddSeconds(1)));
        Assert.Equal(DeploymentStatus.HEALTHY, Deployment.Status);
        Assert.Equal(6, _state.BuildRoutes().Routes.Single().Replicas.Count);
        Assert.Equal(ApplicationStatus.RUNNING, _state.Read((apps, _) => apps["sleepy"].Status().Status));
    }

    [Fact]
    public void ScaleDown_LeavesTheRoutesFirst_ThenStopsAfterTheWithdrawDelay()
    {
        Apply(6);
        Tick(T0);
        AllConstructorsFinish();
        Tick(T0.AddSeconds(1));

        Apply(2);
        var first = Tick(T0.AddSeconds(2));
        Assert.Empty(first); // withdrawn from routes, not stopped yet
        Assert.Equal(2, _state.BuildRoutes().Routes.Single().Replicas.Count);
        Assert.Equal(4, Deployment.Replicas.All.Count(r => r.State == ReplicaState.STOPPING));

        var second = Tick(T0.AddSeconds(3));
        Assert.Equal(4, second.OfType<StopReplicaAction>().Count());
        Tick(T0.AddSeconds(4)); // nodes report them DEAD
        Assert.Equal(2, Deployment.Replicas.Count);
        Assert.Equal(DeploymentStatus.HEALTHY, Deployment.Status);
        Assert.Equal(4, _state.Read((_, dead) => dead.Count(d => d.Reason == "stopped: scaling down")));
    }

    [Fact]
    public void DrainedNode_ThatExitsBeforeItsReplicasAreSeenDead_LeavesThemStoppedForTheDrain_NotDeadWithTheNode()
    {
        Apply(6);
        Tick(T0);
        AllConstructorsFinish();
        Tick(T0.AddSeconds(1));
        _nodes["node-2"].Registration = _nodes["node-2"].Registration with { Draining = true };
        Tick(T0.AddSeconds(2)); // out of the routes
        var stops = Tick(T0.AddSeconds(3)).OfType<StopReplicaAction>().ToList(); // stop sent
        Assert.Equal(2, stops.Count);
        // The node exits the moment its replicas have: the controller never sees them listed DEAD.
        _nodes.Remove("node-2");
        Tick(T0.AddSeconds(4));
        var causes = _state.Read((_, dead) => dead.Where(d => d.NodeId == "node-2").Select(d => d.Reason).ToList());
        Assert.Equal(2, causes.Count);
        Assert.All(causes, c => Assert.Equal("stopped: node node-2 is draining", c));
    }

    [Fact]
    public void DeadNode_ItsReplicasAreReplacedOnTheOthers()
    {
        Apply(6);
        Tick(T0);
        AllConstructorsFinish();
        Tick(T0.AddSeconds(1));

        _nodes.Remove("node-2");
        var actions = Tick(T0.AddSeconds(2));
        var starts = actions.OfType<StartReplicaAction>().ToList();
        Assert.Equal(2, starts.Count);
        Assert.DoesNotContain(starts, s => s.Node.NodeId == "node-2");
        Assert.Equal(2, _state.Read((_, dead) => dead.Count(d => d.Reason.Contains("node-2 is dead"))));
        AllConstructorsFinish();
        Tick(T0.AddSeconds(3));
        Assert.Equal(6, Deployment.Running);
        Assert.All(Deployment.Replicas.All.GroupBy(r => r.NodeId), g => Assert.Equal(3, g.Count()));
    }

    [Fact]
    public void NodeThatDoesNotAnswer_IsNotNews_ItsReplicasStay()
    {
        Apply(6);
        Tick(T0);
        AllConstructorsFinish();
        Tick(T0.AddSeconds(1));
        _nodes["node-1"].Answers = false;
        Assert.Empty(Tick(T0.AddSeconds(2)));
        Assert.Equal(6, Deployment.Running);
    }

    [Fact]
    public void RestartedNode_RunsNoneOfItsPredecessorsReplicas()
    {
        Apply(3);
        Tick(T0);
        AllConstructorsFinish();
        Tick(T0.AddSeconds(1));
        var node = _nodes["node-0"];
        node.Registration = node.Registration with { InstanceId = "node-0-i2" };
        node.Replicas.Clear();
        var actions = Tick(T0.AddSeconds(2));
        Assert.Single(actions.OfType<StartReplicaAction>());
        Assert.Contains(_state.Read((_, dead) => dead.ToList()), d => d.Reason == "node node-0 restarted");
    }

    [Fact]
    public void UnknownLiveReplica_OfAKnownDeployment_IsAdopted_NotRestarted()
    {
        Apply(1);
        _nodes["node-1"].Replicas["old"] = new ReplicaProcessInfo("old", "sleepy", "SleepyPid", ReplicaProcessState.RUNNING, 4242, "http://127.0.0.1:1/old", T0, null, null);
        var actions = Tick(T0);
        Assert.Empty(actions);
        var adopted = Assert.Single(Deployment.Replicas.All);
        Assert.Equal(("old", 4242, ReplicaState.RUNNING), (adopted.ReplicaId, adopted.Pid!.Value, adopted.State));
    }

    [Fact]
    public void UnknownReplica_OfNoDeployment_IsStopped()
    {
        Apply(1);
        Tick(T0);
        _nodes["node-2"].Replicas["stray"] = new ReplicaProcessInfo("stray", "gone", "Gone", ReplicaProcessState.RUNNING, 1, "http://x", T0, null, null);
        var stop = Assert.Single(Tick(T0.AddSeconds(1)).OfType<StopReplicaAction>());
        Assert.Equal("stray", stop.ReplicaId);
    }

    [Fact]
    public void ConstructorFailures_CountUntilDeployFailed()
    {
        // DEPLOY_FAILED comes after max_constructor_retry_count failed starts in a row (DeploymentState.Failed).
        const int maxRetries = 3;
        ApplyYaml($$"""
            applications:
              - { name: sleepy, import_path: "Samples:SleepyPid", deployments: [ { name: SleepyPid, num_replicas: 1, max_constructor_retry_count: {{maxRetries}} } ] }
            """);
        var starts = new List<string>();
        var now = T0;
        for (var tick = 0; tick < 20 && Deployment.Status != DeploymentStatus.DEPLOY_FAILED; tick++)
        {
            now = now.AddSeconds(2);
            var failedBefore = starts.Count; // every start so far failed, and this tick observes the last one's death
            starts.AddRange(Tick(now).OfType<StartReplicaAction>().Select(s => s.ReplicaId));
            Assert.Equal(failedBefore, Deployment.ConsecutiveStartupFailures);
            foreach (var n in _nodes.Values)
                foreach (var (id, r) in n.Replicas.ToList())
                    if (r.State == ReplicaProcessState.STARTING) n.Replicas[id] = r with { State = ReplicaProcessState.DEAD, Message = $"InvalidOperationException: boom {id}" };
        }

        Assert.Equal(DeploymentStatus.DEPLOY_FAILED, Deployment.Status);
        Assert.Equal(DeploymentStatusTrigger.REPLICA_STARTUP_FAILED, Deployment.Trigger);
        Assert.Equal(maxRetries, starts.Count); // one start per attempt, exactly max_constructor_retry_count of them
        Assert.Equal(maxRetries, starts.Distinct().Count());
        Assert.Equal(maxRetries, Deployment.ConsecutiveStartupFailures);
        Assert.Contains($"failed to start {maxRetries} times in a row", Deployment.Message);
        Assert.Contains($"boom {starts[^1]}", Deployment.Message); // the last attempt's error
        Assert.Equal(maxRetries, _state.Read((_, dead) => dead.Count()));

        // Failed stays failed: later ticks (past any startup timeout) start nothing.
        for (var i = 1; i <= 5; i++)
        {
            Assert.Empty(Tick(now.AddMinutes(i * 10)).OfType<StartReplicaAction>());
            Assert.Equal(DeploymentStatus.DEPLOY_FAILED, Deployment.Status);
        }
        Assert.Empty(Deployment.Alive);
    }

    [Fact]
    public void DeletedApplication_StopsItsReplicas_ThenDisappears()
    {
        Apply(2);
        Tick(T0);
        AllConstructorsFinish();
        Tick(T0.AddSeconds(1));
        _state.ApplyConfig(ServeDeployConfig.Empty, null, T0.AddSeconds(2));
        Assert.Empty(_state.BuildRoutes().Routes);
        Tick(T0.AddSeconds(2));
        Assert.Equal(2, Tick(T0.AddSeconds(4)).OfType<StopReplicaAction>().Count());
        Tick(T0.AddSeconds(5));
        Assert.Equal(0, _state.Read((apps, _) => apps.Count));
    }

    [Fact]
    public void UnhealthyReplica_LeavesTheRoutes_IsStopped_AndReplaced_WhileTheDeploymentIsUnhealthy()
    {
        Apply(3);
        Tick(T0);
        AllConstructorsFinish();
        Tick(T0.AddSeconds(1));
        var victim = Deployment.Replicas.All.First().ReplicaId;

        _state.MarkUnhealthy(victim, 3, "InvalidOperationException: toggled", T0.AddSeconds(2));
        Assert.Equal(DeploymentStatus.UNHEALTHY, Deployment.Status);
        Assert.Equal(DeploymentStatusTrigger.HEALTH_CHECK_FAILED, Deployment.Trigger);
        Assert.DoesNotContain(_state.BuildRoutes().Routes.Single().Replicas, r => r.ReplicaId == victim);

        var actions = Tick(T0.AddSeconds(2));
        Assert.Single(actions.OfType<StartReplicaAction>()); // replacement placed at once
        Assert.Contains(Tick(T0.AddSeconds(3)).OfType<StopReplicaAction>(), s => s.ReplicaId == victim);
        AllConstructorsFinish();
        Tick(T0.AddSeconds(4));
        Assert.Equal(DeploymentStatus.HEALTHY, Deployment.Status);
        var dead = Assert.Single(_state.Read((_, d) => d.ToList()));
        Assert.Equal(victim, dead.ReplicaId);
        Assert.Contains("health check failed 3 times in a row (InvalidOperationException: toggled)", dead.Reason);
    }

    [Fact]
    public void FirstPlacementHold_KeepsAFreshDeploymentUnplaced_AndSaysWhy()
    {
        Apply(6);
        var held = _state.Reconcile(Observe() with { FirstPlacementHold = "waiting for nodes to register: 2 of 3 live" }, T0);
        Assert.Empty(held);
        Assert.Equal(DeploymentStatus.UPDATING, Deployment.Status);
        Assert.Contains("waiting for nodes to register: 2 of 3 live", Deployment.Message);

        var actions = Tick(T0.AddSeconds(1));
        Assert.Equal(6, actions.OfType<StartReplicaAction>().Count());
        Assert.DoesNotContain("waiting", Deployment.Message);
    }

    [Fact]
    public void FirstPlacementHold_DoesNotDelayReplacingReplicasOfARunningDeployment()
    {
        Apply(6);
        Tick(T0);
        AllConstructorsFinish();
        Tick(T0.AddSeconds(1));

        _nodes.Remove("node-2");
        var actions = _state.Reconcile(Observe() with { FirstPlacementHold = "waiting" }, T0.AddSeconds(2));
        var starts = actions.OfType<StartReplicaAction>().ToList();
        Assert.Equal(2, starts.Count);
        Assert.DoesNotContain(starts, s => s.Node.NodeId == "node-2");
    }

    [Fact]
    public void NodesAtCapacity_PlaceWhatFits_ReportTheRestInTheStatus_AndPlaceItWhenRoomAppears()
    {
        SetCapacity(2);
        Apply(8);
        var first = Tick(T0).OfType<StartReplicaAction>().ToList();
        Assert.Equal(6, first.Count);
        Assert.All(first.GroupBy(a => a.Node.NodeId), g => Assert.Equal(2, g.Count()));
        Assert.Contains("2 replica(s) cannot be placed: the 3 live node(s) are full (6 of 6 replica slots used)", Deployment.Message);

        SetCapacity(3);
        var second = Tick(T0.AddSeconds(1)).OfType<StartReplicaAction>().ToList();
        Assert.Equal(2, second.Count);
        Assert.DoesNotContain("cannot be placed", Deployment.Message);
    }

    [Fact]
    public void Starts_AreBoundedPerNodeAndPerDeployment()
    {
        UseLimits(new ReplicaLimits(MaxStartingPerNode: 1, MaxStartingPerDeployment: 2, StartupTimeout: TimeSpan.FromMinutes(5)));
        Apply(6);
        Assert.Equal(2, Tick(T0).OfType<StartReplicaAction>().Count());
        Assert.Empty(Tick(T0.AddSeconds(1)).OfType<StartReplicaAction>()); // both still starting
        AllConstructorsFinish();
        var next = Tick(T0.AddSeconds(2)).OfType<StartReplicaAction>().ToList();
        Assert.Equal(2, next.Count);
        Assert.Equal(2, next.Select(a => a.Node.NodeId).Distinct().Count());
        Assert.DoesNotContain("cannot be placed", Deployment.Message); // waiting for a start slot is not "unplaceable"
    }

    [Fact]
    public void AReplicaNotReadyWithinTheStartupTimeout_IsAConstructorFailure_StoppedAndRetried()
    {
        UseLimits(new ReplicaLimits(4, 16, TimeSpan.FromSeconds(30)));
        Apply(1);
        var start = Assert.Single(Tick(T0).OfType<StartReplicaAction>());
        Assert.Empty(Tick(T0.AddSeconds(29)));
        Tick(T0.AddSeconds(30)); // out of the routes: STOPPING now, the stop call after the withdraw delay
        var stop = Assert.Single(Tick(T0.AddSeconds(31)).OfType<StopReplicaAction>());
        Assert.Equal(start.ReplicaId, stop.ReplicaId);
        Assert.Equal(1, Deployment.ConsecutiveStartupFailures);
        Assert.Contains("did not become ready within 30 s", Deployment.Message);
        Assert.Equal(2, Deployment.Replicas.Count); // its replacement is already starting
    }

    [Fact]
    public void ANewConfig_StopsWhatIsNoLongerWanted_BeforeStartingAnythingNew_OnFullNodes()
    {
        SetCapacity(2);
        Apply(6);
        Tick(T0);
        AllConstructorsFinish();
        Tick(T0.AddSeconds(1));

        ApplyYaml("""
            applications:
              - { name: other, route_prefix: "/other", import_path: "Samples:SleepyPid", deployments: [ { name: SleepyPid, num_replicas: 3 } ] }
            """);
        var first = Tick(T0.AddSeconds(2));
        Assert.Empty(first.OfType<StartReplicaAction>()); // the old replicas still hold every slot
        Assert.Equal(6, _state.Read((apps, _) => apps["sleepy"].Deployments["SleepyPid"].Replicas.All.Count(r => r.State == ReplicaState.STOPPING)));
        Assert.Equal(6, Tick(T0.AddSeconds(3)).OfType<StopReplicaAction>().Count());
        AllStopsFinish();
        var starts = Tick(T0.AddSeconds(4)).OfType<StartReplicaAction>().ToList();
        Assert.Equal(3, starts.Count);
        Assert.All(starts, s => Assert.Equal("other", s.Request.Application));
    }

    [Fact]
    public void AnUnresponsiveReplica_LeavesTheRoutesAndIsReplaced_OnlyOnce()
    {
        Apply(3);
        Tick(T0);
        AllConstructorsFinish();
        Tick(T0.AddSeconds(1));
        var victim = Deployment.Replicas.All.First().ReplicaId;

        Assert.True(_state.MarkUnresponsive(victim, "3 requests in a row exceeded request_timeout_s=1 on proxy proxy-0", T0.AddSeconds(2)));
        Assert.False(_state.MarkUnresponsive(victim, "again", T0.AddSeconds(2))); // already on its way out
        Assert.False(_state.MarkUnresponsive("no-such-replica", "x", T0.AddSeconds(2)));
        Assert.DoesNotContain(_state.BuildRoutes().Routes.Single().Replicas, r => r.ReplicaId == victim);
        Assert.Equal(DeploymentStatus.UNHEALTHY, Deployment.Status);

        var actions = Tick(T0.AddSeconds(3));
        Assert.Single(actions.OfType<StartReplicaAction>()); // its replacement
        Assert.Equal(victim, Assert.Single(actions.OfType<StopReplicaAction>()).ReplicaId);
    }

    [Fact]
    public void TheEvenShareIsSoft_ANearlyFullNodeLeavesItsShareToTheOthers_UnlessMaxReplicasPerNodeSaysSo()
    {
        SetCapacity(10);
        _nodes["node-0"].Registration = _nodes["node-0"].Registration with { Capacity = 1 };
        Apply(6);
        var starts = Tick(T0).OfType<StartReplicaAction>().GroupBy(a => a.Node.NodeId).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(1, starts["node-0"]);
        Assert.Equal(5, starts["node-1"] + starts["node-2"]);
        Assert.InRange(starts["node-1"], 2, 3);
        Assert.DoesNotContain("cannot be placed", Deployment.Message);
    }

    [Fact]
    public void FirstPlacementHold_DoesNotDelayADeploymentWhoseReplicasAllDied()
    {
        Apply(1);
        Tick(T0);
        AllConstructorsFinish();
        Tick(T0.AddSeconds(1));
        var node = Assert.Single(Deployment.Replicas.All).NodeId;

        _nodes.Remove(node); // its only replica died with its node
        var actions = _state.Reconcile(Observe() with { FirstPlacementHold = "waiting" }, T0.AddSeconds(2));
        Assert.Single(actions.OfType<StartReplicaAction>());
    }

    [Fact]
    public void StartSlots_DoNotSpillAShareToAnotherNode_OnlyAFullNodeDoes()
    {
        UseLimits(new ReplicaLimits(MaxStartingPerNode: 2, MaxStartingPerDeployment: 100, StartupTimeout: TimeSpan.FromMinutes(5)));
        SetCapacity(100);
        Apply(12);
        var first = Tick(T0).OfType<StartReplicaAction>().GroupBy(a => a.Node.NodeId).ToDictionary(g => g.Key, g => g.Count());
        Assert.All(first.Values, n => Assert.Equal(2, n)); // start slots, not capacity: nobody takes another node's share
        for (var t = 1; t <= 3; t++)
        {
            AllConstructorsFinish();
            Tick(T0.AddSeconds(t));
        }
        Assert.All(Deployment.Replicas.All.GroupBy(r => r.NodeId), g => Assert.Equal(4, g.Count()));
    }

    [Fact]
    public void UnresponsiveReports_ReplaceOneReplicaOfADeploymentAtATime()
    {
        Apply(3);
        Tick(T0);
        AllConstructorsFinish();
        Tick(T0.AddSeconds(1));
        var ids = Deployment.Replicas.All.Select(r => r.ReplicaId).ToList();
        Assert.True(_state.MarkUnresponsive(ids[0], "slow", T0.AddSeconds(2)));
        Assert.False(_state.MarkUnresponsive(ids[1], "slow", T0.AddSeconds(2))); // deferred while the first is replaced
        Tick(T0.AddSeconds(3));
        Tick(T0.AddSeconds(4)); // the first is gone now
        Assert.True(_state.MarkUnresponsive(ids[1], "slow", T0.AddSeconds(5)));
    }

    [Fact]
    public void AThousandReplicasOnTwentyNodes_AreSpreadFiftyEach_AndANodeLostIsReplacedOnTheOthers()
    {
        _nodes.Clear();
        for (var i = 0; i < 20; i++) _nodes[$"node-{i}"] = new FakeNode($"node-{i}");
        SetCapacity(100);
        UseLimits(new ReplicaLimits(MaxStartingPerNode: 100, MaxStartingPerDeployment: 1000, StartupTimeout: TimeSpan.FromMinutes(5)));
        Apply(1000);
        Assert.Equal(1000, Tick(T0).OfType<StartReplicaAction>().Count());
        AllConstructorsFinish();
        Tick(T0.AddSeconds(1));
        Assert.Equal(1000, Deployment.Running);
        Assert.All(Deployment.Replicas.All.GroupBy(r => r.NodeId), g => Assert.Equal(50, g.Count()));
        Assert.Equal(1000, _state.BuildRoutes().Routes.Single().Replicas.Count);

        _nodes.Remove("node-7");
        var replacements = Tick(T0.AddSeconds(2)).OfType<StartReplicaAction>().ToList();
        Assert.Equal(50, replacements.Count);
        Assert.DoesNotContain(replacements, a => a.Node.NodeId == "node-7");
        Assert.True(replacements.GroupBy(a => a.Node.NodeId).All(g => g.Count() <= 3), "spread over the 19 others, not piled on one");
        Assert.Equal(50, _state.Read((_, dead) => dead.Count(d => d.NodeId == "node-7")));
        AllConstructorsFinish();
        Tick(T0.AddSeconds(3));
        Assert.Equal(1000, Deployment.Running);
        Assert.Equal(DeploymentStatus.HEALTHY, Deployment.Status);
    }

    [Fact]
    public void AnAutoscalingDecision_MovesTheTarget_StatusSaysUpscalingUntilDone_AndTheTargetSurvivesACheckpoint()
    {
        var result = ConfigValidator.Validate("""
            applications:
              - { name: sleepy, route_prefix: /, import_path: "Samples:SleepyPid", deployments: [ { name: SleepyPid, autoscaling_config: { min_replicas: 1, max_replicas: 5 } } ] }
            """, new DeploymentCatalog());
        Assert.True(result.IsValid, result.Summary);
        _state.ApplyConfig(result.Config!, null, T0);
        Assert.Single(Tick(T0).OfType<StartReplicaAction>());
        AllConstructorsFinish();
        Tick(T0.AddSeconds(1));
        Assert.Equal(DeploymentStatus.HEALTHY, Deployment.Status);

        var key = RouteEntry.KeyOf("sleepy", "SleepyPid");
        Assert.Equal((key, 1), _state.AutoscaledDeployments().Select(d => (d.Key, d.Current)).Single());
        _state.Autoscale(key, 3, "load", T0.AddSeconds(2));
        Assert.Equal((DeploymentStatus.UPSCALING, DeploymentStatusTrigger.AUTOSCALING), (Deployment.Status, Deployment.Trigger));
        Assert.Equal(2, Tick(T0.AddSeconds(2)).OfType<StartReplicaAction>().Count());
        Assert.Equal(DeploymentStatus.UPSCALING, Deployment.Status);
        AllConstructorsFinish();
        Tick(T0.AddSeconds(3));
        Assert.Equal((DeploymentStatus.HEALTHY, DeploymentStatusTrigger.UPSCALE_COMPLETED), (Deployment.Status, Deployment.Trigger));

        _state.Autoscale(key, 99, "far too much", T0.AddSeconds(4)); // clamped to max_replicas
        Assert.Equal(5, Deployment.TargetReplicas);

        // A new leader restores the target instead of starting over from initial_replicas.
        var next = new DeploymentStateManager(TimeSpan.FromSeconds(1), 50, () => $"n{_ids++}", NullLogger<DeploymentStateManager>.Instance);
        next.ApplyConfig(result.Config!, null, T0);
        next.RestoreAutoscaling(_state.AutoscalingTargets());
        Assert.Equal(5, next.Read((apps, _) => apps["sleepy"].Deployments["SleepyPid"].TargetReplicas));
    }

    [Fact]
    public void MinReplicasZero_StartsWithNoReplica_Healthy_RoutesSayItScalesFromZero_AndScalesUpAndBackToZero()
    {
        var result = ConfigValidator.Validate("""
            applications:
              - { name: sleepy, route_prefix: /, import_path: "Samples:SleepyPid", deployments: [ { name: SleepyPid, autoscaling_config: { min_replicas: 0, initial_replicas: 0, max_replicas: 3 } } ] }
            """, new DeploymentCatalog());
        Assert.True(result.IsValid, result.Summary);
        _state.ApplyConfig(result.Config!, null, T0);
        Assert.Empty(Tick(T0));
        Assert.Equal((0, DeploymentStatus.HEALTHY), (Deployment.TargetReplicas, Deployment.Status));
        var route = _state.BuildRoutes().Routes.Single();
        Assert.True(route.ScalesFromZero);
        Assert.Empty(route.Replicas);

        var key = RouteEntry.KeyOf("sleepy", "SleepyPid");
        _state.Autoscale(key, 2, "scale up from 0", T0.AddSeconds(1));
        Assert.Equal(DeploymentStatus.UPSCALING, Deployment.Status);
        Assert.Equal(2, Tick(T0.AddSeconds(1)).OfType<StartReplicaAction>().Count());
        AllConstructorsFinish();
        Tick(T0.AddSeconds(2));
        Assert.Equal((2, DeploymentStatus.HEALTHY), (Deployment.Running, Deployment.Status));
        Assert.Equal(2, _state.BuildRoutes().Routes.Single().Replicas.Count);

        _state.Autoscale(key, 0, "scale down from 2", T0.AddSeconds(3));
        Tick(T0.AddSeconds(3));
        Assert.Empty(_state.BuildRoutes().Routes.Single().Replicas); // out of the routes before the stop calls
        Assert.Equal(2, Tick(T0.AddSeconds(5)).OfType<StopReplicaAction>().Count());
        Tick(T0.AddSeconds(6));
        Assert.Equal((0, 0, DeploymentStatus.HEALTHY), (Deployment.Replicas.AliveCount, Deployment.TargetReplicas, Deployment.Status));
        Assert.Contains("scale down from 2", Deployment.ScalingDecision);
    }

    [Fact]
    public void AFixedOrMinOneDeployment_DoesNotScaleFromZero()
    {
        Apply(2);
        Assert.False(_state.BuildRoutes().Routes.Single().ScalesFromZero);
    }
}

/// <summary>The kill API's two outcomes as the controller sees them through its nodes' reports.</summary>
public sealed class KilledReplicaObservationTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.UnixEpoch.AddDays(20000);
    private readonly DeploymentStateManager _state = new(TimeSpan.FromSeconds(1), 50, NextId(), NullLogger<DeploymentStateManager>.Instance,
        new ReplicaLimits(4, 16, TimeSpan.FromMinutes(1), ReplicaLimits.DefaultRollingUpdateShare));
    private readonly NodeRegistration _node = new("node-0", "node-0-i1", "http://node-0", 1, DateTimeOffset.UnixEpoch, Capacity: 8);
    private readonly Dictionary<string, ReplicaProcessInfo> _replicas = [];

    private static Func<string> NextId()
    {
        var n = 0;
        return () => $"r{n++}";
    }

    private IReadOnlyList<ReplicaAction> Tick(DateTimeOffset now)
    {
        var actions = _state.Reconcile(new ClusterObservation(new Dictionary<string, NodeObservation>
        {
            [_node.NodeId] = new(_node, new NodeReplicasResponse(_node.NodeId, _node.InstanceId, _replicas.Values.ToList())),
        }), now);
        foreach (var s in actions.OfType<StartReplicaAction>())
        {
            _replicas[s.ReplicaId] = new ReplicaProcessInfo(s.ReplicaId, s.Request.Application, s.Request.Deployment, ReplicaProcessState.RUNNING, 100 + _replicas.Count,
                $"http://127.0.0.1/{s.ReplicaId}", now, null, null, s.Request.CodeVersion);
            _state.OnStartResult(s.ReplicaId, true, null);
        }
        return actions;
    }

    private IReadOnlyList<ReplicaEndpoint> Routed => _state.BuildRoutes().Routes.Single().Replicas;

    private void Deploy()
    {
        var result = ConfigValidator.Validate("""
            applications:
              - { name: sleepy, route_prefix: "/", import_path: "Samples:SleepyPid", deployments: [ { name: SleepyPid, num_replicas: 2 } ] }
            """, new DeploymentCatalog());
        Assert.True(result.IsValid, result.Summary);
        _state.ApplyConfig(result.Config!, null, T0);
        Tick(T0);
        Tick(T0.AddSeconds(1));
        Assert.Equal(2, Routed.Count); // precondition: both serve
    }

    [Fact]
    public void RestartedInPlace_LeavesTheRoutesUntilReady_KeepsItsName_AndCountsTheRestart()
    {
        Deploy();
        // Its node restarted r0 in place: a new process, STARTING, past the startup timeout of the first one.
        var later = T0.AddMinutes(5);
        _replicas["r0"] = _replicas["r0"] with { State = ReplicaProcessState.STARTING, Pid = 200, Url = null, StartedAt = later, Restarts = 1 };

        Assert.Empty(Tick(later).OfType<StopReplicaAction>()); // its startup clock restarted: not timed out, not replaced
        Assert.Equal(["r1"], Routed.Select(r => r.ReplicaId));
        var rec = _state.Read((apps, _) => apps["sleepy"].Deployments["SleepyPid"].Replicas.All.Single(r => r.ReplicaId == "r0"));
        Assert.Equal((ReplicaState.STARTING, 200, 1), (rec.State, rec.Pid, rec.Restarts));

        _replicas["r0"] = _replicas["r0"] with { State = ReplicaProcessState.RUNNING, Url = "http://127.0.0.1/r0-again", LastExitCode = 137 };
        Assert.Empty(Tick(later.AddSeconds(1)).OfType<StartReplicaAction>()); // nothing replaced it
        Assert.Equal(["http://127.0.0.1/r0-again", "http://127.0.0.1/r1"], Routed.Select(r => r.Url).Order());
        Assert.Equal((1, 137), (rec.Restarts, rec.LastExitCode));
        Assert.Equal(0, _state.Read((_, dead) => dead.Count));
    }

    [Fact]
    public void KilledWithoutRestart_IsDeadWithTheNodesReason_AndReplacedUnderANewName()
    {
        Deploy();
        _replicas["r0"] = _replicas["r0"] with { State = ReplicaProcessState.DEAD, ExitCode = 137, Message = "killed by the kill API (POST /api/actors/r0/kill, no_restart=true)" };

        var starts = Tick(T0.AddSeconds(2)).OfType<StartReplicaAction>().ToList();

        Assert.Equal(["r2"], starts.Select(s => s.ReplicaId));
        var dead = _state.Read((_, d) => d.Single());
        Assert.Equal(("r0", 137, "killed by the kill API (POST /api/actors/r0/kill, no_restart=true)"), (dead.ReplicaId, dead.ExitCode, dead.Reason));
    }
}

public sealed class KillBodyTests
{
    [Theory]
    [InlineData("", null)]
    [InlineData("{}", null)]
    [InlineData("{\"no_restart\": true}", true)]
    [InlineData("{\"no_restart\": false}", false)]
    [InlineData("{\"no_restart\": null}", null)]
    public void AcceptedBodies(string body, bool? expected)
    {
        var (noRestart, error) = ServeAspire.Controller.Apis.ActorsApi.ParseNoRestart(body);
        Assert.Null(error);
        Assert.Equal(expected, noRestart);
    }

    [Theory]
    [InlineData("{\"no_restart\": \"yes\"}", "no_restart must be true or false")]
    [InlineData("{\"no_restart\": 1}", "no_restart must be true or false")]
    [InlineData("{\"norestart\": true}", "unknown field 'norestart'")]
    [InlineData("[true]", "must be a mapping")]
    [InlineData("{no", "not JSON")]
    public void RefusedBodies_NameTheProblem(string body, string message)
    {
        var (_, error) = ServeAspire.Controller.Apis.ActorsApi.ParseNoRestart(body);
        Assert.Contains(message, error);
    }
}
