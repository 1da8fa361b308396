using Microsoft.Extensions.Time.Testing;
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

    /// <summary>Seeded, so the run is the same every time (the bounds below held for each of 300 seeds tried).</summary>
    private sealed class SeededRandom(int seed) : IRandomSource
    {
        private readonly Random _random = new(seed);
        public int Next(int maxExclusive) => _random.Next(maxExclusive);
    }

    private static int Spread(ReplicaSlot[] slots) => slots.Max(s => s.InFlight) - slots.Min(s => s.InFlight);

    [Fact]
    public void ManyPicks_SpreadLoadEvenly()
    {
        // The cap never binds (at most 600 requests are ever in flight), so only the policy decides where they go.
        const int replicas = 6, inFlightTarget = 600, churn = 6000, cap = 1000;
        var slots = Slots(new int[replicas]);
        var policy = new PowerOfTwoChoicesPolicy(new SeededRandom(20240611));
        var completions = new Random(7);
        var picks = new int[replicas];
        var inFlight = new List<int>(); // replica index of each request in flight

        void Pick()
        {
            var slot = policy.TryPick(slots, cap);
            Assert.NotNull(slot);
            var index = Array.IndexOf(slots, slot);
            picks[index]++;
            inFlight.Add(index);
        }

        // Phase 1, nothing completes: 600 picks. The two choices keep the max-min gap to a few (0-6 over
        // 300 seeds; it grows like log log n); always picking one replica leaves 600, pure random ~25.
        for (var i = 0; i < inFlightTarget; i++) Pick();
        Assert.InRange(Spread(slots), 0, 8);

        // Phase 2, requests complete (a random one of those in flight) and new ones arrive. Over 300 seeds
        // P2C kept the gap at 3.2-3.8 on average (worst 9-18); pure random at 19-33 (worst 35-74).
        long spreadSum = 0;
        var worst = 0;
        for (var i = 0; i < churn; i++)
        {
            var k = completions.Next(inFlight.Count);
            slots[inFlight[k]].Release();
            inFlight[k] = inFlight[^1];
            inFlight.RemoveAt(inFlight.Count - 1);
            Pick();
            var spread = Spread(slots);
            spreadSum += spread;
            worst = Math.Max(worst, spread);
        }
        Assert.Equal(inFlightTarget, slots.Sum(s => s.InFlight));
        Assert.InRange((double)spreadSum / churn, 0, 5);
        Assert.InRange(worst, 0, 25);
        // And every replica took its share of the work: 1,100 picks each if perfectly even.
        var fair = (inFlightTarget + churn) / replicas;
        Assert.All(picks, n => Assert.InRange(n, fair * 8 / 10, fair * 12 / 10));
        // A cap that does bind still refuses once every replica has reached it.
        Assert.Null(policy.TryPick(slots, maxOngoing: slots.Min(s => s.InFlight)));
    }

    [Fact]
    public async Task Router_QueuesWhenFull_AndHandsTheFreedSlotToTheWaiter()
    {
        var router = new DeploymentRouter(new PowerOfTwoChoicesPolicy(new SharedRandomSource()));
        router.Update(new RouteEntry("/", "app", "Dep", 1, -1, false, [new ReplicaEndpoint("r0", "http://127.0.0.1:9000", "node-0")]));
        var (status, first) = await router.AcquireAsync(null, CancellationToken.None);
        Assert.Equal(DeploymentRouter.AcquireStatus.Acquired, status);
        var waiting = router.AcquireAsync(null, CancellationToken.None).AsTask();
        Assert.False(waiting.IsCompleted);
        router.Release(first!);
        var (status2, second) = await waiting.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(DeploymentRouter.AcquireStatus.Acquired, status2);
        Assert.Same(first, second);
    }

    [Fact]
    public async Task Router_HandsFreedSlotsToWaitersInArrivalOrder_AndNewcomersQueueBehindThem()
    {
        var router = new DeploymentRouter(new PowerOfTwoChoicesPolicy(new SharedRandomSource()));
        router.Update(new RouteEntry("/", "app", "Dep", 1, -1, false, [new ReplicaEndpoint("r0", "http://127.0.0.1:9000", "node-0")]));
        var (_, held) = await router.AcquireAsync(null, CancellationToken.None);
        var first = router.AcquireAsync(null, CancellationToken.None).AsTask();
        var second = router.AcquireAsync(null, CancellationToken.None).AsTask();
        Assert.False(first.IsCompleted);
        Assert.False(second.IsCompleted);

        router.Release(held!);
        var (status, handed) = await first.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(DeploymentRouter.AcquireStatus.Acquired, status);
        Assert.Same(held, handed);
        Assert.Equal(1, handed!.InFlight); // handed over, never above max_ongoing_requests

        // A newcomer while the second one waits does not overtake it.
        var newcomer = router.AcquireAsync(null, CancellationToken.None).AsTask();
        router.Release(handed);
        var (_, toSecond) = await second.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Same(held, toSecond);
        Assert.False(newcomer.IsCompleted);
        router.Release(toSecond!);
        Assert.Same(held, (await newcomer.WaitAsync(TimeSpan.FromSeconds(5))).Slot);
    }

    [Fact]
    public async Task Router_ACancelledWaiter_LeavesTheLine_AndTheNextOneGetsTheSlot()
    {
        var router = new DeploymentRouter(new PowerOfTwoChoicesPolicy(new SharedRandomSource()));
        router.Update(new RouteEntry("/", "app", "Dep", 1, -1, false, [new ReplicaEndpoint("r0", "http://127.0.0.1:9000", "node-0")]));
        var (_, held) = await router.AcquireAsync(null, CancellationToken.None);
        using var cts = new CancellationTokenSource();
        var cancelled = router.AcquireAsync(null, cts.Token).AsTask();
        var next = router.AcquireAsync(null, CancellationToken.None).AsTask();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        router.Release(held!);
        Assert.Same(held, (await next.WaitAsync(TimeSpan.FromSeconds(5))).Slot);
    }

    [Fact]
    public async Task Router_RefusesBeyondMaxQueuedRequests()
    {
        var router = new DeploymentRouter(new PowerOfTwoChoicesPolicy(new SharedRandomSource()));
        router.Update(new RouteEntry("/", "app", "Dep", 1, 1, false, [new ReplicaEndpoint("r0", "http://127.0.0.1:9000", "node-0")]));
        await router.AcquireAsync(null, CancellationToken.None);
        using var cts = new CancellationTokenSource();
        var queued = router.AcquireAsync(null, cts.Token).AsTask();
        var (status, slot) = await router.AcquireAsync(null, CancellationToken.None);
        Assert.Equal(DeploymentRouter.AcquireStatus.QueueFull, status);
        Assert.Null(slot);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued);
    }

    [Fact]
    public async Task Router_UnderContention_NeverLosesAWakeUp_NorExceedsTheCap()
    {
        // Release skips the lock when nobody is on the slow path; a lost wake-up would leave a worker
        // waiting forever (this test would then time out), a wrong count would exceed max_ongoing_requests.
        var router = new DeploymentRouter(new PowerOfTwoChoicesPolicy(new SharedRandomSource()));
        router.Update(new RouteEntry("/", "app", "Dep", 2, -1, false,
            [new ReplicaEndpoint("r0", "http://127.0.0.1:9000", "node-0"), new ReplicaEndpoint("r1", "http://127.0.0.1:9001", "node-0")]));
        var inside = 0;
        var maxInside = 0;
        var acquired = 0;
        const int workers = 16, rounds = 2_000;
        var all = Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < rounds; i++)
            {
                var (status, slot) = await router.AcquireAsync(null, CancellationToken.None);
                Assert.Equal(DeploymentRouter.AcquireStatus.Acquired, status);
                var now = Interlocked.Increment(ref inside);
                InterlockedMax(ref maxInside, now);
                Interlocked.Increment(ref acquired);
                if (i % 3 == 0) await Task.Yield();
                Interlocked.Decrement(ref inside);
                router.Release(slot!);
            }
        })).ToArray();
        await Task.WhenAll(all).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(workers * rounds, acquired);
        Assert.InRange(maxInside, 2, 4); // 2 replicas × max_ongoing_requests 2
        Assert.All(router.Slots, s => Assert.Equal(0, s.InFlight));
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current) { }
    }

    [Fact]
    public async Task Router_WithoutReplicas_SaysSo()
    {
        var router = new DeploymentRouter(new PowerOfTwoChoicesPolicy(new SharedRandomSource()));
        router.Update(new RouteEntry("/", "app", "Dep", 1, -1, false, []));
        var (status, _) = await router.AcquireAsync(null, CancellationToken.None);
        Assert.Equal(DeploymentRouter.AcquireStatus.NoReplicas, status);
    }

    // Scale from zero: a deployment with min_replicas 0 has no replica on purpose; requests wait for one.

    private static RouteEntry FromZero(int maxQueued = -1, params string[] replicas) =>
        new("/", "app", "Dep", 1, maxQueued, false, replicas.Select(r => new ReplicaEndpoint(r, $"http://127.0.0.1:9000/{r}", "node-0")).ToList(), ScalesFromZero: true);

    private static DeploymentRouter ColdRouter(FakeTimeProvider clock, TimeSpan coldStartTimeout, int maxQueued = -1)
    {
        var router = new DeploymentRouter(new PowerOfTwoChoicesPolicy(new SharedRandomSource()), clock) { ColdStartTimeout = coldStartTimeout };
        router.Update(FromZero(maxQueued));
        return router;
    }

    [Fact]
    public async Task Router_ScalingFromZero_WaitsWithNoReplica_CountsAsOngoing_AndTheTableThatBringsOneWakesIt()
    {
        var clock = new FakeTimeProvider();
        var router = ColdRouter(clock, TimeSpan.FromSeconds(60));
        var first = router.AcquireAsync(null, CancellationToken.None).AsTask();
        var second = router.AcquireAsync(null, CancellationToken.None).AsTask();
        Assert.False(first.IsCompleted);
        Assert.False(second.IsCompleted);
        Assert.Equal(2, router.Ongoing); // the autoscaler's input: demand with no replica
        clock.Advance(TimeSpan.FromSeconds(30));
        Assert.False(first.IsCompleted);

        router.Update(FromZero(-1, "r0", "r1")); // the controller's table with the first replicas
        var (s1, a) = await first.WaitAsync(TimeSpan.FromSeconds(5));
        var (s2, b) = await second.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal((DeploymentRouter.AcquireStatus.Acquired, DeploymentRouter.AcquireStatus.Acquired), (s1, s2));
        Assert.NotSame(a, b); // max_ongoing_requests 1 each: one per replica
        Assert.Equal(2, router.Ongoing); // now in flight, no longer queued
        router.Release(a!);
        router.Release(b!);
        Assert.Equal(0, router.Ongoing);
    }

    [Fact]
    public async Task Router_ScalingFromZero_GivesUpAfterTheColdStartTimeout_CountingFromTheFirstWait()
    {
        var clock = new FakeTimeProvider();
        var router = ColdRouter(clock, TimeSpan.FromSeconds(60));
        var waiting = router.AcquireAsync(null, CancellationToken.None).AsTask();
        clock.Advance(TimeSpan.FromSeconds(40));
        router.Update(FromZero()); // a table without replicas wakes it: it looks again and keeps its deadline
        await UntilAsync(() => router.Ongoing == 1 && !waiting.IsCompleted);
        clock.Advance(TimeSpan.FromSeconds(19));
        Assert.False(waiting.IsCompleted);
        clock.Advance(TimeSpan.FromSeconds(1));
        var (status, slot) = await waiting.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(DeploymentRouter.AcquireStatus.ColdStartTimedOut, status);
        Assert.Null(slot);
        Assert.Equal(0, router.Ongoing); // left the queue
    }

    [Fact]
    public async Task Router_ScalingFromZero_RefusesBeyondMaxQueuedRequests()
    {
        var router = ColdRouter(new FakeTimeProvider(), TimeSpan.FromSeconds(60), maxQueued: 1);
        using var cts = new CancellationTokenSource();
        var queued = router.AcquireAsync(null, cts.Token).AsTask();
        var (status, slot) = await router.AcquireAsync(null, CancellationToken.None);
        Assert.Equal(DeploymentRouter.AcquireStatus.QueueFull, status);
        Assert.Null(slot);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued);
        Assert.Equal(0, router.Ongoing);
    }

    [Fact]
    public async Task Router_ScalingFromZero_WithoutAColdStartTimeout_WaitsUntilTheRequestIsCancelled()
    {
        // request_timeout_s set: it bounds the whole request (the proxy's deadline token → 408), not the router.
        var clock = new FakeTimeProvider();
        var router = ColdRouter(clock, Timeout.InfiniteTimeSpan);
        using var deadline = new CancellationTokenSource();
        var waiting = router.AcquireAsync(null, deadline.Token).AsTask();
        clock.Advance(TimeSpan.FromHours(2));
        Assert.False(waiting.IsCompleted);
        deadline.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.Equal(0, router.Ongoing);
    }

    internal static async Task UntilAsync(Func<bool> condition)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), "condition not reached within 5 s");
            await Task.Yield();
        }
    }
}
