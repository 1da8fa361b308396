using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using ServeAspire.Config;
using ServeAspire.Controller;
using ServeAspire.Controller.Checkpoints;
using ServeAspire.Controller.ControlLoop;
using ServeAspire.Controller.Deployments;
using ServeAspire.Controller.Health;
using ServeAspire.Controller.Leadership;
using ServeAspire.Controller.Nodes;
using ServeAspire.Controller.Placement;
using ServeAspire.Controller.Proxies;
using ServeAspire.Controller.Routing;
using ServeAspire.Model;
using ServeAspire.Runtime;
using ServeAspire.UnitTests.Fakes;

namespace ServeAspire.UnitTests.ControlLoop;

/// <summary>The loop's steps are isolated: one failing step does not skip the others. Fakes for the store, the nodes and the probes.</summary>
public sealed class ControlLoopStepTests
{
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UnixEpoch.AddDays(20000));
    private readonly FakeClusterStore _store = new();
    private readonly FakeNodes _nodes = new();
    private readonly CountingProxyProbe _proxyProbe = new();
    private readonly ControlLoopService _loop;

    public ControlLoopStepTests()
    {
        var options = Options.Create(new ControllerOptions());
        var ids = 0;
        var deployments = new DeploymentStateManager(TimeSpan.FromSeconds(1), 10, () => $"r{ids++}", NullLogger<DeploymentStateManager>.Instance);
        var config = ConfigValidator.Validate("""
            applications:
              - { name: a, route_prefix: /, import_path: "Samples:SleepyPid", deployments: [ { name: SleepyPid, num_replicas: 2 } ] }
            """, new DeploymentCatalog());
        deployments.ApplyConfig(config.Config!, null, _clock.GetUtcNow());
        var registry = new NodeRegistry(_store, _nodes, new NodeSettleGate(0, TimeSpan.Zero, TimeSpan.Zero), options, _clock, NullLogger<NodeRegistry>.Instance);
        registry.Reset(_clock.GetUtcNow());
        _loop = new ControlLoopService(deployments, _store, _nodes, registry,
            new ProxyStateManager(_store, _proxyProbe, options, _clock, NullLogger<ProxyStateManager>.Instance),
            new RoutingTablePublisher(_store, _clock), new ReplicaHealthTracker(new HealthyProbe(), () => 0.5),
            new CheckpointManager(deployments, _store), new ServeAspire.Controller.Autoscaling.AutoscalingStateManager(NullLogger<ServeAspire.Controller.Autoscaling.AutoscalingStateManager>.Instance),
            new LeaderState(_clock), new TickFailpoint(options, _clock),
            new RecoveryRehearsal(_store, _nodes, _proxyProbe, new DeploymentCatalog(), ConfigLimits.Default, _clock, NullLogger<RecoveryRehearsal>.Instance),
            new DeploymentCatalog(), ConfigLimits.Default, options, _clock, NullLogger<ControlLoopService>.Instance);
        _store.Nodes.Add((new NodeRegistration("node-0", "i1", "http://node-0", 1, DateTimeOffset.UnixEpoch), true));
        _store.Proxies.Add((new ProxyRegistration("proxy-0", "p1", "http://proxy-0", 2, DateTimeOffset.UnixEpoch, false), true));
    }

    private sealed class FakeNodes : INodeClient
    {
        public List<string> Started { get; } = [];

        public Task<NodeListResult> ListReplicasAsync(NodeRegistration node, long leaderToken, CancellationToken cancellationToken) =>
            Task.FromResult(new NodeListResult(new NodeReplicasResponse(node.NodeId, node.InstanceId, []), false));

        public Task<(bool Accepted, string? Error)> StartReplicaAsync(NodeRegistration node, StartReplicaRequest request, long leaderToken, CancellationToken cancellationToken)
        {
            lock (Started) Started.Add(request.ReplicaId);
            return Task.FromResult<(bool, string?)>((true, null));
        }

        public Task<bool> ReconfigureReplicaAsync(NodeRegistration node, string replicaId, ReconfigureReplicaRequest request, long leaderToken, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<(ReplicaProcessInfo? Replica, string? Error)> KillReplicaAsync(NodeRegistration node, string replicaId, KillReplicaRequest request, long leaderToken, CancellationToken cancellationToken) =>
            throw new NotSupportedException("the kill API is not part of these tests");
        public Task<(bool Accepted, bool Unknown)> StopReplicaAsync(NodeRegistration node, string replicaId, long leaderToken, CancellationToken cancellationToken) =>
            Task.FromResult((true, false));
    }

    private sealed class CountingProxyProbe : IProxyProbe
    {
        public int Checks;
        public Task<(ProxyStatus Status, string? Reason)> CheckAsync(string address, TimeSpan timeout, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Checks);
            return Task.FromResult<(ProxyStatus, string?)>((ProxyStatus.HEALTHY, null));
        }
    }

    private sealed class HealthyProbe : IReplicaHealthProbe
    {
        public Task<string?> CheckAsync(string replicaUrl, TimeSpan timeout, CancellationToken cancellationToken) => Task.FromResult<string?>(null);
    }

    [Fact]
    public async Task AllSteps_Run_OnAHealthyTick()
    {
        Assert.True(await _loop.TickAsync(1, default));
        Assert.Equal(2, _nodes.Started.Count);
        Assert.Equal(1, _proxyProbe.Checks);
        Assert.Single(_store.RoutePublishes);
        Assert.Equal(1, _store.StateSaves);
    }

    [Fact]
    public async Task AFailingProxyStep_DoesNotSkipDecidingPublishingActingOrCheckpointing()
    {
        _store.ProxiesFail = true;

        Assert.False(await _loop.TickAsync(1, default)); // false: the store failed a step, the loop backs off

        Assert.Equal(0, _proxyProbe.Checks);
        Assert.Equal(2, _nodes.Started.Count);
        Assert.Single(_store.RoutePublishes);
        Assert.Equal(1, _store.StateSaves);
    }

    [Fact]
    public async Task WithoutAnObservation_NothingIsDecidedOrDone_ButTheOtherStepsRun()
    {
        _store.NodesFail = true;

        Assert.False(await _loop.TickAsync(1, default));

        Assert.Empty(_nodes.Started); // no observation this tick: acting on an old one could bury live replicas
        Assert.Equal(1, _proxyProbe.Checks);
        Assert.Single(_store.RoutePublishes);
        Assert.Equal(1, _store.StateSaves);
    }

    [Fact]
    public async Task AStaleToken_EndsTheTick_BeforeAnyNodeIsCalled()
    {
        _store.Token = 2; // a newer leader exists

        await Assert.ThrowsAsync<FencedException>(() => _loop.TickAsync(1, default));

        Assert.Empty(_nodes.Started);
        Assert.Equal(0, _store.StateSaves);
    }
}
