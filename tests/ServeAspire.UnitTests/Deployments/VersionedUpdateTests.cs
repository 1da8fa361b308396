using Microsoft.Extensions.Logging.Abstractions;
using ServeAspire.Config;
using ServeAspire.Controller.Deployments;
using ServeAspire.Model;
using ServeAspire.Runtime;

namespace ServeAspire.UnitTests.Deployments;

/// <summary>
/// Config changes against fake nodes: which restart nothing, which reconfigure in place (user_config),
/// and which roll (code version), with the RUNNING count checked at every tick of a rollout.
/// </summary>
public sealed class VersionedUpdateTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.UnixEpoch.AddDays(20000);
    private readonly DeploymentStateManager _state;
    private readonly Dictionary<string, Dictionary<string, ReplicaProcessInfo>> _nodes = new() { ["node-0"] = [], ["node-1"] = [] };
    private readonly List<ReconfigureReplicaAction> _reconfigures = [];
    private int _ids;
    private DateTimeOffset _now = T0;

    public VersionedUpdateTests() =>
        _state = new DeploymentStateManager(TimeSpan.FromSeconds(1), 100, () => $"r{_ids++}", NullLogger<DeploymentStateManager>.Instance);

    private static string Yaml(int replicas, string modelVersion, string extra = "") => $$"""
        applications:
          - name: c
            route_prefix: /
            import_path: Samples:Configurable
            runtime_env: { env_vars: { MODEL_VERSION: "{{modelVersion}}" } }
            deployments: [ { name: Configurable, num_replicas: {{replicas}}, max_constructor_retry_count: 3 {{extra}} } ]
        """;

    private void Apply(string yaml)
    {
        var result = ConfigValidator.Validate(yaml, new DeploymentCatalog());
        Assert.True(result.IsValid, result.Summary);
        _state.ApplyConfig(result.Config!, null, _now);
    }

    private DeploymentState Dep => _state.Read((apps, _) => apps["c"].Deployments["Configurable"]);

    private ClusterObservation Observe() => new(_nodes.ToDictionary(n => n.Key, n => new NodeObservation(
        new NodeRegistration(n.Key, n.Key + "-i", $"http://{n.Key}", 1, T0), new NodeReplicasResponse(n.Key, n.Key + "-i", n.Value.Values.ToList()))));

    /// <summary>One second: a tick whose actions the fake nodes carry out (a start is STARTING until <paramref name="construct"/> says otherwise).</summary>
    private IReadOnlyList<ReplicaAction> Tick(Func<StartReplicaRequest, string?>? construct = null)
    {
        _now = _now.AddSeconds(1);
        var actions = _state.Reconcile(Observe(), _now);
        foreach (var a in actions)
        {
            var node = _nodes[a.Node.NodeId];
            switch (a)
            {
                case StartReplicaAction s:
                    var failure = construct?.Invoke(s.Request);
                    node[s.ReplicaId] = new ReplicaProcessInfo(s.ReplicaId, s.Request.Application, s.Request.Deployment,
                        failure is null ? ReplicaProcessState.RUNNING : ReplicaProcessState.DEAD, 1000 + _ids, failure is null ? $"http://r/{s.ReplicaId}" : null, _now, null, failure,
                        s.Request.CodeVersion, string.IsNullOrEmpty(s.Request.UserConfigVersion) ? null : s.Request.UserConfigVersion);
                    _state.OnStartResult(s.ReplicaId, true, null);
                    break;
                case StopReplicaAction st:
                    node[st.ReplicaId] = node[st.ReplicaId] with { State = ReplicaProcessState.DEAD };
                    _state.OnStopResult(st.ReplicaId, true, false, _now);
                    break;
                case ReconfigureReplicaAction rc:
                    _reconfigures.Add(rc);
                    _state.OnReconfigureResult(rc.ReplicaId, rc.Request.UserConfigVersion, true);
                    break;
            }
        }
        return actions;
    }

    private int RoutedCount => _state.BuildRoutes().Routes.Single().Replicas.Count;

    private HashSet<string> StartHealthy(int replicas, string modelVersion = "1", string extra = "")
    {
        Apply(Yaml(replicas, modelVersion, extra));
        for (var i = 0; i < 5 && Dep.Status != DeploymentStatus.HEALTHY; i++) Tick();
        Assert.Equal(DeploymentStatus.HEALTHY, Dep.Status);
        return Dep.Replicas.All.Select(r => r.ReplicaId).ToHashSet();
    }

    [Fact]
    public void LightweightChanges_RestartNothing()
    {
        var before = StartHealthy(4);
        Apply(Yaml(4, "1", ", max_ongoing_requests: 9, max_queued_requests: 20, health_check_period_s: 2, health_check_timeout_s: 3, graceful_shutdown_wait_loop_s: 1"));
        Assert.Equal(DeploymentStatus.UPDATING, Dep.Status); // a new spec restarts the status machine…
        for (var i = 0; i < 3; i++)
            Assert.DoesNotContain(Tick(), a => a is StartReplicaAction or StopReplicaAction); // …but no replica
        Assert.Equal(before, Dep.Replicas.All.Select(r => r.ReplicaId).ToHashSet());
        Assert.Equal(9, _state.BuildRoutes().Routes.Single().MaxOngoingRequests);
        Assert.Equal(DeploymentStatus.HEALTHY, Dep.Status);
    }

    [Fact]
    public void UserConfigChange_ReconfiguresEveryRunningReplicaOnce_InPlace()
    {
        var before = StartHealthy(3, extra: ", user_config: { message: a }");
        var first = Dep.UserConfigVersion;
        Assert.All(Dep.Replicas.All, r => Assert.Equal(first, r.UserConfigVersion)); // applied at start
        Apply(Yaml(3, "1", ", user_config: { message: b }"));
        var actions = Tick();
        var sent = actions.OfType<ReconfigureReplicaAction>().ToList();
        Assert.Equal(before, sent.Select(a => a.ReplicaId).ToHashSet());
        Assert.All(sent, a => Assert.Equal("""{"message":"b"}""", a.Request.UserConfig));
        Assert.DoesNotContain(actions, a => a is StartReplicaAction or StopReplicaAction);
        // Not repeated while the replicas have not reported it applied; the status waits for them.
        Assert.Empty(Tick().OfType<ReconfigureReplicaAction>());
        Assert.Equal(DeploymentStatus.UPDATING, Dep.Status);
        Assert.Contains("applying the new user_config", Dep.Message);
        foreach (var node in _nodes.Values)
            foreach (var (id, r) in node.ToList()) node[id] = r with { UserConfigVersion = sent[0].Request.UserConfigVersion };
        Tick();
        Assert.Equal(DeploymentStatus.HEALTHY, Dep.Status);
        Assert.Equal(before, Dep.Replicas.All.Select(r => r.ReplicaId).ToHashSet());
        Assert.Equal(3, RoutedCount);
    }

    [Fact]
    public void RefusedUserConfig_KeepsTheReplicasServing_AndSaysSoInTheStatus()
    {
        var before = StartHealthy(2, extra: ", user_config: { message: a }");
        Apply(Yaml(2, "1", ", user_config: { fail: true }"));
        var version = Dep.UserConfigVersion;
        Tick();
        foreach (var node in _nodes.Values)
            foreach (var (id, r) in node.ToList()) node[id] = r with { ReconfigureError = $"{version}: ArgumentException: user_config asks to fail" };
        Tick();
        Assert.Equal(DeploymentStatus.DEPLOY_FAILED, Dep.Status);
        Assert.Contains("user_config asks to fail", Dep.Message);
        Assert.Equal(2, RoutedCount);
        Assert.Equal(before, Dep.Replicas.All.Select(r => r.ReplicaId).ToHashSet());
        Assert.Empty(Tick().OfType<ReconfigureReplicaAction>()); // not retried until the user_config changes
    }

    [Fact]
    public void CodeVersionChange_Rolls_NewReplicasRunBeforeOldOnesLeave_NeverBelowTheTarget()
    {
        var old = StartHealthy(5);
        Apply(Yaml(5, "2"));
        var maxAlive = 0;
        for (var i = 0; i < 30 && !(Dep.Status == DeploymentStatus.HEALTHY && Dep.Replicas.All.All(r => !old.Contains(r.ReplicaId))); i++)
        {
            Tick();
            // Never fewer routed replicas than the target, and at most ceil(20 % of 5) = 1 above it.
            Assert.True(RoutedCount >= 5, $"tick {i}: {RoutedCount} routed");
            maxAlive = Math.Max(maxAlive, Dep.Replicas.AliveCount);
            Assert.True(Dep.Replicas.AliveCount <= 6, $"tick {i}: {Dep.Replicas.AliveCount} alive");
        }
        Assert.Equal(6, maxAlive);
        Assert.Equal(DeploymentStatus.HEALTHY, Dep.Status);
        Assert.Equal(5, Dep.Replicas.Count);
        Assert.DoesNotContain(Dep.Replicas.All, r => old.Contains(r.ReplicaId));
        Assert.All(Dep.Replicas.All, r => Assert.Equal(Dep.Spec.CodeVersion, r.CodeVersion));
        Assert.Equal(5, _state.Read((_, dead) => dead.Count(d => d.Reason.Contains("rolling update"))));
    }

    [Fact]
    public void RollingUpdate_StatusSaysHowFarItIs()
    {
        StartHealthy(2);
        Apply(Yaml(2, "2"));
        Tick(construct: _ => null);
        Assert.Equal(DeploymentStatus.UPDATING, Dep.Status);
        Assert.Contains("rolling update to version", Dep.Message);
    }

    [Fact]
    public void NewVersionWhoseConstructorKeepsFailing_StopsTheRollout_AndTheOldVersionKeepsServing()
    {
        var old = StartHealthy(3);
        Apply(Yaml(3, "broken"));
        for (var i = 0; i < 10; i++)
        {
            Tick(construct: r => r.EnvVars?["MODEL_VERSION"] == "broken" ? "InvalidOperationException: model version 'broken' cannot be loaded" : null);
            Assert.Equal(3, RoutedCount); // the old replicas never leave
        }
        Assert.Equal(DeploymentStatus.DEPLOY_FAILED, Dep.Status);
        Assert.Contains("previous version keep serving", Dep.Message);
        Assert.Contains("cannot be loaded", Dep.Message);
        Assert.Equal(old, _state.BuildRoutes().Routes.Single().Replicas.Select(r => r.ReplicaId).ToHashSet());
        // No more starts once failed.
        Assert.DoesNotContain(Tick(), a => a is StartReplicaAction);

        // Deploying a working version again rolls as usual.
        Apply(Yaml(3, "3"));
        for (var i = 0; i < 30 && Dep.Status != DeploymentStatus.HEALTHY; i++) Tick();
        Assert.Equal(DeploymentStatus.HEALTHY, Dep.Status);
        Assert.DoesNotContain(Dep.Replicas.All, r => old.Contains(r.ReplicaId));
    }

    [Fact]
    public void EnvVars_AndUserConfig_GoInTheStartRequest()
    {
        Apply(Yaml(1, "7", ", user_config: { message: hi }"));
        var start = Tick().OfType<StartReplicaAction>().Single().Request;
        Assert.Equal("7", start.EnvVars!["MODEL_VERSION"]);
        Assert.Equal("""{"message":"hi"}""", start.UserConfig);
        Assert.Equal(Dep.UserConfigVersion, start.UserConfigVersion);
        Assert.Equal(Dep.Spec.CodeVersion, start.CodeVersion);
    }
}
