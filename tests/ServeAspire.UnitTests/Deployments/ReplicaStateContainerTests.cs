using Microsoft.Extensions.Logging.Abstractions;
using ServeAspire.Controller.Deployments;
using ServeAspire.Model;

namespace ServeAspire.UnitTests.Deployments;

public sealed class ReplicaStateContainerTests
{
    private int _changes;
    private readonly ReplicaStateContainer _container;

    public ReplicaStateContainerTests() => _container = new ReplicaStateContainer("app", "Dep", () => _changes++, NullLogger.Instance);

    private static ReplicaRecord Replica(string id, string node = "node-0") =>
        new() { ReplicaId = id, Application = "app", Deployment = "Dep", NodeId = node };

    [Fact]
    public void Replicas_AreGroupedByState_AndFoundById()
    {
        var a = Replica("a");
        var b = Replica("b");
        _container.Add(a);
        _container.Add(b);
        Assert.True(_container.Transition(b, ReplicaState.RUNNING));

        Assert.Equal(1, _container.CountIn(ReplicaState.STARTING));
        Assert.Equal(1, _container.CountIn(ReplicaState.RUNNING));
        Assert.Equal(2, _container.AliveCount);
        Assert.Same(b, Assert.Single(_container.In(ReplicaState.RUNNING)));
        Assert.True(_container.TryGet("a", out var found));
        Assert.Same(a, found);
        Assert.False(_container.TryGet("zz", out _));
    }

    [Theory]
    [InlineData(ReplicaState.STOPPING, ReplicaState.RUNNING)]
    [InlineData(ReplicaState.STOPPING, ReplicaState.STARTING)]
    [InlineData(ReplicaState.STARTING, ReplicaState.UPDATING)]
    public void AnIllegalMove_IsRefused_AndTheReplicaStaysWhereItWas(ReplicaState from, ReplicaState to)
    {
        var r = Replica("a");
        _container.Add(r);
        Assert.True(_container.Transition(r, from));
        var changes = _changes;

        Assert.False(_container.Transition(r, to));

        Assert.Equal(from, r.State);
        Assert.Equal(1, _container.CountIn(from));
        Assert.Equal(changes, _changes);
    }

    [Theory]
    [InlineData(ReplicaState.STARTING, ReplicaState.RUNNING)]
    [InlineData(ReplicaState.STARTING, ReplicaState.STOPPING)]
    [InlineData(ReplicaState.RUNNING, ReplicaState.STOPPING)]
    [InlineData(ReplicaState.RECOVERING, ReplicaState.RUNNING)]
    [InlineData(ReplicaState.RUNNING, ReplicaState.STARTING)] // restarted in place by the kill API
    public void TheLifecycleMoves_AreLegal(ReplicaState from, ReplicaState to) => Assert.True(ReplicaStateContainer.IsLegal(from, to));

    [Fact]
    public void EveryChange_IsCounted_SoTheCheckpointKnowsWhenToSave()
    {
        var r = Replica("a");
        _container.Add(r);
        _container.Transition(r, ReplicaState.RUNNING);
        _container.Transition(r, ReplicaState.RUNNING); // no move, no change
        _container.Remove(r);
        Assert.Equal(3, _changes);
        Assert.Equal(0, _container.Count);
    }

    [Fact]
    public void WithinAState_OlderReplicasComeFirst()
    {
        foreach (var id in new[] { "c", "a", "b" }) _container.Add(Replica(id));
        Assert.Equal(["c", "a", "b"], _container.In(ReplicaState.STARTING).Select(r => r.ReplicaId));
    }

    [Fact]
    public void AddingAReplicaTwice_Throws()
    {
        _container.Add(Replica("a"));
        Assert.Throws<InvalidOperationException>(() => _container.Add(Replica("a")));
    }
}
