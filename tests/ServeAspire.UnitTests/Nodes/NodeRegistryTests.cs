using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using ServeAspire.Controller;
using ServeAspire.Controller.Nodes;
using ServeAspire.Controller.Placement;
using ServeAspire.Model;
using ServeAspire.UnitTests.Fakes;

namespace ServeAspire.UnitTests.Nodes;

public sealed class NodeRegistryTests
{
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UnixEpoch.AddDays(20000));
    private readonly FakeClusterStore _store = new();
    private readonly FakeNodes _nodes = new();
    private readonly ControllerOptions _options = new() { NodeObserveBudget = TimeSpan.FromMilliseconds(500), NodeCallTimeout = TimeSpan.FromSeconds(2) };
    private readonly NodeRegistry _registry;

    public NodeRegistryTests()
    {
        _registry = new NodeRegistry(_store, _nodes, new NodeSettleGate(0, TimeSpan.Zero, TimeSpan.Zero), Options.Create(_options), _clock, NullLogger<NodeRegistry>.Instance);
        _registry.Reset(_clock.GetUtcNow());
    }

    private NodeRegistration Register(string id, bool heartbeat = true)
    {
        var node = new NodeRegistration(id, id + "-i1", $"http://{id}", 1, DateTimeOffset.UnixEpoch);
        _store.Nodes.Add((node, heartbeat));
        return node;
    }

    /// <summary>Answers at once with an empty list, unless the node is told to hang or to refuse connections.</summary>
    private sealed class FakeNodes : INodeClient
    {
        public HashSet<string> Hung { get; } = [];
        public HashSet<string> Refusing { get; } = [];
        public Dictionary<string, int> Calls { get; } = [];
        public Dictionary<string, TaskCompletionSource<NodeListResult>> Pending { get; } = [];

        public Task<NodeListResult> ListReplicasAsync(NodeRegistration node, long leaderToken, CancellationToken cancellationToken)
        {
            Calls[node.NodeId] = Calls.GetValueOrDefault(node.NodeId) + 1;
            if (Refusing.Contains(node.NodeId)) return Task.FromResult(new NodeListResult(null, true));
            if (!Hung.Contains(node.NodeId)) return Task.FromResult(new NodeListResult(new NodeReplicasResponse(node.NodeId, node.InstanceId, []), false));
            // Continuations run inline: when the test answers, the registry's call has finished by the time SetResult returns.
            var pending = new TaskCompletionSource<NodeListResult>();
            Pending[node.NodeId] = pending;
            return pending.Task; // ignores the deadline, like a node that never answers and a client that never gives up
        }

        public Task<(bool Accepted, string? Error)> StartReplicaAsync(NodeRegistration node, StartReplicaRequest request, long leaderToken, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<bool> ReconfigureReplicaAsync(NodeRegistration node, string replicaId, ReconfigureReplicaRequest request, long leaderToken, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<(ReplicaProcessInfo? Replica, string? Error)> KillReplicaAsync(NodeRegistration node, string replicaId, KillReplicaRequest request, long leaderToken, CancellationToken cancellationToken) =>
            throw new NotSupportedException("the kill API is not part of these tests");
        public Task<(bool Accepted, bool Unknown)> StopReplicaAsync(NodeRegistration node, string replicaId, long leaderToken, CancellationToken cancellationToken) => throw new NotSupportedException();
    }

    [Fact]
    public async Task AHungNode_HoldsUpTheTickOnlyForTheBudget_AndIsNoNews()
    {
        Register("node-0");
        Register("node-1");
        _nodes.Hung.Add("node-1");

        var observing = _registry.ObserveAsync(1, default);
        Assert.False(observing.IsCompleted); // waiting for node-1, within the budget
        _clock.Advance(_options.NodeObserveBudget);
        var observation = await observing;

        Assert.NotNull(observation.Nodes["node-0"].Replicas);
        Assert.Null(observation.Nodes["node-1"].Replicas); // registered with a heartbeat, no answer: alive, no news
        Assert.Equal(["node-0"], observation.PlaceableNodes());
    }

    [Fact]
    public async Task ANodeStillBusyWithAnEarlierCall_IsNotAskedAgain_AndItsLateAnswerIsDropped()
    {
        Register("node-0");
        _nodes.Hung.Add("node-0");
        var first = _registry.ObserveAsync(1, default);
        _clock.Advance(_options.NodeObserveBudget);
        await first;

        var second = await _registry.ObserveAsync(1, default); // no wait at all: nothing new was asked
        Assert.Equal(1, _nodes.Calls["node-0"]);
        Assert.Null(second.Nodes["node-0"].Replicas);

        // The old call answers between ticks: a listing older than the tick is not used; the node is asked afresh.
        _nodes.Pending["node-0"].SetResult(new NodeListResult(new NodeReplicasResponse("node-0", "node-0-i1", []), false));
        _nodes.Hung.Clear();
        var third = await _registry.ObserveAsync(1, default);
        Assert.Equal(2, _nodes.Calls["node-0"]);
        Assert.NotNull(third.Nodes["node-0"].Replicas);
    }

    [Fact]
    public async Task ANodeThatRefusesConnections_IsDeadAtOnce_EvenWithAHeartbeat()
    {
        Register("node-0");
        _nodes.Refusing.Add("node-0");
        var observation = await _registry.ObserveAsync(1, default);
        Assert.Empty(observation.Nodes);
    }

    [Fact]
    public async Task ANodeWhoseHeartbeatLapsed_ButAnswers_IsAlive()
    {
        // After a store outage heartbeats have lapsed: that alone kills nothing.
        Register("node-0", heartbeat: false);
        var observation = await _registry.ObserveAsync(1, default);
        Assert.NotNull(observation.Nodes["node-0"].Replicas);
    }

    [Fact]
    public async Task ANodeWithoutHeartbeatThatDoesNotAnswer_IsDead_AndPrunedAfterTheRetention()
    {
        Register("node-0", heartbeat: false);
        _nodes.Hung.Add("node-0");
        var observing = _registry.ObserveAsync(1, default);
        _clock.Advance(_options.NodeObserveBudget);
        Assert.Empty((await observing).Nodes);

        await _registry.PruneAsync(default);
        Assert.Empty(_store.Forgotten);
        _clock.Advance(_options.DeadRegistrationRetention);
        await _registry.PruneAsync(default);
        Assert.Equal(["node:node-0"], _store.Forgotten);
    }
}
