using ServeAspire.Model;
using ServeAspire.Proxy.LoadBalancing;

namespace ServeAspire.UnitTests.LoadBalancing;

public sealed class PowerOfTwoChoicesPolicyTests
{
    private sealed class ScriptedRandom(params int[] values) : IRandomSource
    {
        private int _i;
        public int Next(int maxExclusive) => values[_i++ % values.Length] % maxExclusive;
    }

    private static ReplicaSlot[] Slots(params int[] inFlight) =>
        inFlight.Select((n, i) =>
        {
            var s = new ReplicaSlot(new ReplicaEndpoint($"r{i}", $"http://127.0.0.1:{9000 + i}", "node-0"));
            for (var k = 0; k < n; k++) Assert.True(s.TryAcquire(int.MaxValue));
            return s;
        }).ToArray();

    [Fact]
    public void OfTheTwoSampled_TheLessLoadedWins()
    {
        var slots = Slots(4, 1, 3);
        // Samples index 0 and (1 → shifted past 0) 2: loads 4 and 3 → picks r2, never r1 (not sampled).
        var pick = new PowerOfTwoChoicesPolicy(new ScriptedRandom(0, 1)).TryPick(slots, maxOngoing: 5);
        Assert.Equal("r2", pick!.Endpoint.ReplicaId);
        Assert.Equal(4, pick.InFlight);
    }

    [Fact]
    public void FullReplicas_AreNeverChosen()
    {
        var slots = Slots(5, 5, 2);
        var policy = new PowerOfTwoChoicesPolicy(new ScriptedRandom(0, 0, 1, 1));
        Assert.Equal("r2", policy.TryPick(slots, maxOngoing: 5)!.Endpoint.ReplicaId);
    }

    [Fact]
    public void WhenEveryReplicaIsFull_NothingIsPicked()
    {
        Assert.Null(new PowerOfTwoChoicesPolicy(new SharedRandomSource()).TryPick(Slots(2, 2), maxOngoing: 2));
    }

    [Fact]
    public void SuspectReplicas_AreAvoided_UnlessNothingElseIsLeft()
    {
        var slots = Slots(0, 3);
        slots[0].MarkSuspect(TimeSpan.FromMinutes(1));
        var policy = new PowerOfTwoChoicesPolicy(new SharedRandomSource());
        Assert.Equal("r1", policy.TryPick(slots, maxOngoing: 5)!.Endpoint.ReplicaId);
        slots[1].MarkSuspect(TimeSpan.FromMinutes(1));
        Assert.NotNull(policy.TryPick(slots, maxOngoing: 5));
    }

    [Fact]
    public void ExcludedReplicas_AreSkipped()
    {
        var slots = Slots(0, 0);
        var pick = new PowerOfTwoChoicesPolicy(new SharedRandomSource()).TryPick(slots, 5, new HashSet<ReplicaSlot> { slots[0] });
        Assert.Equal("r1", pick!.Endpoint.ReplicaId);
    }

    [Fact]
    public void ManyPicks_SpreadLoadEvenly()
    {
        var slots = Slots(0, 0, 0, 0, 0, 0);
        var policy = new PowerOfTwoChoicesPolicy(new SharedRandomSource());
        for (var i = 0; i < 30; i++) Assert.NotNull(policy.TryPick(slots, maxOngoing: 5));
        Assert.All(slots, s => Assert.Equal(5, s.InFlight)); // 30 slots over 6 replicas capped at 5 each
        Assert.Null(policy.TryPick(slots, maxOngoing: 5));
    }

    [Fact]
    public async Task Router_QueuesWhenFull_AndHandsTheFreedSlotToTheWaiter()
    {
        var router = new DeploymentRouter(new PowerOfTwoChoicesPolicy(new SharedRandomSource()));
        router.Update(new RouteEntry("/", "app", "Dep", 1, -1, false, [new ReplicaEndpoint("r0", "http://127.0.0.1:9000", "node-0")]));
        var (status, first) = await router.AcquireAsync(null, CancellationToken.None);
        Assert.Equal(DeploymentRouter.AcquireStatus.Acquired, status);
        var waiting = router.AcquireAsync(null, CancellationToken.None);
        Assert.False(waiting.IsCompleted);
        router.Release(first!);
        var (status2, second) = await waiting.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(DeploymentRouter.AcquireStatus.Acquired, status2);
        Assert.Same(first, second);
    }

    [Fact]
    public async Task Router_RefusesBeyondMaxQueuedRequests()
    {
        var router = new DeploymentRouter(new PowerOfTwoChoicesPolicy(new SharedRandomSource()));
        router.Update(new RouteEntry("/", "app", "Dep", 1, 1, false, [new ReplicaEndpoint("r0", "http://127.0.0.1:9000", "node-0")]));
        await router.AcquireAsync(null, CancellationToken.None);
        using var cts = new CancellationTokenSource();
        var queued = router.AcquireAsync(null, cts.Token);
        var (status, slot) = await router.AcquireAsync(null, CancellationToken.None);
        Assert.Equal(DeploymentRouter.AcquireStatus.QueueFull, status);
        Assert.Null(slot);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued);
    }

    [Fact]
    public async Task Router_WithoutReplicas_SaysSo()
    {
        var router = new DeploymentRouter(new PowerOfTwoChoicesPolicy(new SharedRandomSource()));
        router.Update(new RouteEntry("/", "app", "Dep", 1, -1, false, []));
        var (status, _) = await router.AcquireAsync(null, CancellationToken.None);
        Assert.Equal(DeploymentRouter.AcquireStatus.NoReplicas, status);
    }
}
