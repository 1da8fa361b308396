using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using ServeAspire.Config;
using ServeAspire.Controller.ControlLoop;
using ServeAspire.Controller.Nodes;
using ServeAspire.Controller.Proxies;
using ServeAspire.Model;
using ServeAspire.Runtime;
using ServeAspire.UnitTests.Fakes;

namespace ServeAspire.UnitTests.ControlLoop;

/// <summary>A standby's rehearsal of its recovery: reads only, token 0 to nodes, at most once per interval, never held up by a node.</summary>
public sealed class RecoveryRehearsalTests
{
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UnixEpoch.AddDays(20000));
    private readonly FakeClusterStore _store = new();
    private readonly RecordingNodes _nodes = new();
    private readonly RecordingProxies _proxies = new();
    private readonly RecoveryRehearsal _rehearsal;

    public RecoveryRehearsalTests()
    {
        _rehearsal = new RecoveryRehearsal(_store, _nodes, _proxies, new DeploymentCatalog(), ConfigLimits.Default, _clock, NullLogger<RecoveryRehearsal>.Instance);
        _store.Nodes.Add((new NodeRegistration("node-0", "i0", "http://node-0", 1, DateTimeOffset.UnixEpoch), true));
        _store.Nodes.Add((new NodeRegistration("node-1", "i1", "http://node-1", 2, DateTimeOffset.UnixEpoch), false)); // dead: not asked
        _store.Proxies.Add((new ProxyRegistration("proxy-0", "p0", "http://proxy-0", 3, DateTimeOffset.UnixEpoch, false), true));
    }

    private sealed class RecordingNodes : INodeClient
    {
        public List<(string Node, long Token)> Listed { get; } = [];
        public TaskCompletionSource<NodeListResult>? Hang { get; set; }

        public Task<NodeListResult> ListReplicasAsync(NodeRegistration node, long leaderToken, CancellationToken cancellationToken)
        {
            Listed.Add((node.NodeId, leaderToken));
            return Hang?.Task.WaitAsync(cancellationToken) ?? Task.FromResult(new NodeListResult(new NodeReplicasResponse(node.NodeId, node.InstanceId, []), false));
        }

        public Task<(bool Accepted, string? Error)> StartReplicaAsync(NodeRegistration node, StartReplicaRequest request, long leaderToken, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("a standby never starts a replica");

        public Task<bool> ReconfigureReplicaAsync(NodeRegistration node, string replicaId, ReconfigureReplicaRequest request, long leaderToken, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<(ReplicaProcessInfo? Replica, string? Error)> KillReplicaAsync(NodeRegistration node, string replicaId, KillReplicaRequest request, long leaderToken, CancellationToken cancellationToken) =>
            throw new NotSupportedException("the kill API is not part of these tests");
        public Task<(bool Accepted, bool Unknown)> StopReplicaAsync(NodeRegistration node, string replicaId, long leaderToken, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("a standby never stops a replica");
    }

    private sealed class RecordingProxies : IProxyProbe
    {
        public List<string> Checked { get; } = [];

        public Task<(ProxyStatus Status, string? Reason)> CheckAsync(string address, TimeSpan timeout, CancellationToken cancellationToken)
        {
            Checked.Add(address);
            return Task.FromResult((ProxyStatus.HEALTHY, (string?)null));
        }
    }

    [Fact]
    public async Task ItAsksTheLiveNodesWithoutAToken_AndTheLiveProxies_AndWritesNothing()
    {
        Assert.True(await _rehearsal.RunIfDueAsync(default));
        await _rehearsal.Calls;
        Assert.Equal([("node-0", 0L)], _nodes.Listed);
        Assert.Equal(["http://proxy-0"], _proxies.Checked);
        Assert.Equal(0, _store.StateSaves);
        Assert.Empty(_store.RoutePublishes);
        Assert.Empty(_store.Forgotten);
    }

    [Fact]
    public async Task ItRehearsesAtMostOncePerInterval()
    {
        Assert.True(await _rehearsal.RunIfDueAsync(default));
        _clock.Advance(RecoveryRehearsal.Interval - TimeSpan.FromMilliseconds(1));
        Assert.False(await _rehearsal.RunIfDueAsync(default));
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(await _rehearsal.RunIfDueAsync(default));
        Assert.Equal(2, _nodes.Listed.Count);
    }

    [Fact]
    public async Task AHungNode_DoesNotHoldItUp_AndItsCallEndsAtTheDeadline()
    {
        _nodes.Hang = new TaskCompletionSource<NodeListResult>();
        Assert.True(await _rehearsal.RunIfDueAsync(default)); // returned although the node never answers
        Assert.False(_rehearsal.Calls.IsCompleted);
        _clock.Advance(TimeSpan.FromSeconds(1)); // the calls' own deadline
        await _rehearsal.Calls.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Single(_nodes.Listed);
    }
}
