using CsCheck;
using ServeAspire.Controller.Deployments;
using ServeAspire.Model;
using ServeAspire.UnitTests.Fakes;

namespace ServeAspire.UnitTests.Placement;

/// <summary>
/// Property-based tests (CsCheck) of placement and rolling updates over the pure reconcile with fake nodes:
/// random node counts (1–20), targets (0–200), max_replicas_per_node (unset or 1–10), node capacities,
/// surge shares, an autoscaling change and node losses during the roll. A failure is shrunk to a minimal
/// case and printed with its seed; each one found is kept below as a plain regression test.
/// </summary>
public sealed class PlacementPropertyTests
{
    /// <param name="Capacities">Per node; 0 is no limit.</param>
    /// <param name="MaxPerNode">max_replicas_per_node; 0 is unset.</param>
    /// <param name="SurgeTenths">The rolling-update share, in tenths (1 = 10 %).</param>
    /// <param name="NewTarget">An autoscaling decision during the roll; -1 is none.</param>
    /// <param name="LostNodes">Nodes lost during the roll (the last ones).</param>
    public sealed record Scenario(int[] Capacities, int Target, int MaxPerNode, int SurgeTenths, int NewTarget, int ChangeAtTick, int LostNodes, int LossAtTick)
    {
        public int NodeCount => Capacities.Length;
        public override string ToString() =>
            $"nodes {NodeCount}, capacities [{string.Join(',', Capacities)}], target {Target}, max_replicas_per_node {MaxPerNode}, surge {SurgeTenths}0 %, " +
            $"new target {NewTarget} at tick {ChangeAtTick}, {LostNodes} node(s) lost at tick {LossAtTick}";
    }

    private static readonly Gen<Scenario> Scenarios =
        from nodes in Gen.Int[1, 20]
        from limited in Gen.Bool
        from caps in limited ? Gen.Int[1, 30].Array[nodes] : Gen.Const(new int[nodes])
        from target in Gen.Int[0, 200]
        from perNode in Gen.Int[0, 10]
        from surge in Gen.Int[1, 10]
        from newTarget in Gen.Int[-1, 200]
        from changeAt in Gen.Int[0, 30]
        from lost in Gen.Int[0, nodes - 1]
        from lossAt in Gen.Int[0, 30]
        select new Scenario(caps, target, perNode, surge, newTarget, changeAt, lost, lossAt);

    [Fact]
    public void EveryRollingUpdateFinishes_RunningStaysWithinTheRule_AndTheSpreadStaysEven() =>
        Scenarios.Sample(Run, iter: Iterations, print: s => s.ToString());

    /// <summary>300 cases in the suite (about 2 s); <c>SERVE_PROPERTY_ITER=20000</c> for a longer hunt.</summary>
    private static int Iterations => int.TryParse(Environment.GetEnvironmentVariable("SERVE_PROPERTY_ITER"), out var n) && n > 0 ? n : 300;

    // Cases the properties found (shrunk), kept as plain regression tests.

    /// <summary>Issue 26: 6 replicas on 3 nodes, 2 each: the spread share counted old replicas, so the surge placed nothing.</summary>
    [Fact]
    public void SixReplicasOnThreeNodes_Roll_WithoutEverServingFewerThanSix() => Run(new Scenario([0, 0, 0], 6, 0, 2, -1, 0, 0, 0));

    /// <summary>No room at all (1 node, max_replicas_per_node 1): the old replica stops first, then the new one starts.</summary>
    [Fact]
    public void NoRoomToSurge_TheOldReplicaStopsFirst_AndTheRollFinishes() => Run(new Scenario([0], 27, 1, 7, -1, 0, 0, 0));

    /// <summary>Two spare slots under max_replicas_per_node: the surge uses them, and nothing old stops to make room meanwhile.</summary>
    [Fact]
    public void TwoSpareSlots_TheRollSurgesIntoThem_AndNeverStopsAnOldReplicaEarly() => Run(new Scenario([0, 0, 0, 0, 0], 23, 5, 4, -1, 0, 0, 0));

    /// <summary>Slots held by stopping replicas are about to be free: the roll waits for them instead of stopping old replicas early.</summary>
    [Fact]
    public void SlotsOfStoppingReplicas_AreWaitedFor_NotMadeByStoppingMore() => Run(new Scenario([19, 9, 7, 5, 22, 21], 78, 0, 5, -1, 0, 0, 0));

    /// <summary>
    /// Deploys, converges, rolls to a new version (with the scenario's autoscaling change and node losses
    /// on the way) and converges again, checking every tick.
    /// </summary>
    private static void Run(Scenario s)
    {
        var limits = new ReplicaLimits(4, 16, TimeSpan.FromMinutes(5), s.SurgeTenths / 10.0);
        var cluster = new FakeCluster(limits);
        for (var i = 0; i < s.NodeCount; i++) cluster.AddNode($"node-{i:D2}", s.Capacities[i]);
        int? hardCap = s.MaxPerNode == 0 ? null : s.MaxPerNode;
        cluster.Deploy(s.Target, "1", hardCap);

        // 1. A scale-up from nothing finishes whenever there is room, evenly spread.
        var expected = Math.Min(s.Target, Slots(cluster, hardCap));
        Converge(cluster, s.Target, expected, hardCap, Bound(s.Target), "the first deployment");

        // 2. A rolling update (a new code version), with the autoscaling change and node losses on the way.
        cluster.Deploy(s.Target, "2", hardCap);
        var target = s.Target;
        var disturbed = false;
        var spare = Slots(cluster, hardCap) - s.Target; // free slots before the roll: with one, the roll can surge
        // The rule: with a spare slot the roll surges, so what serves never drops; with none, an old replica
        // stops before its replacement starts, at most MaxSurge at once (Ray's stop-then-start).
        var floor = spare >= 1 ? expected : expected - limits.MaxSurge(s.Target);
        var bound = Bound(Math.Max(s.Target, s.NewTarget));
        var rollStart = cluster.Ticks;
        while (cluster.Ticks - rollStart < 10_000)
        {
            var tick = cluster.Ticks - rollStart;
            if (s.NewTarget >= 0 && tick == s.ChangeAtTick)
            {
                cluster.Autoscale(s.NewTarget);
                target = s.NewTarget;
                disturbed = true;
            }
            if (s.LostNodes > 0 && tick == s.LossAtTick)
            {
                foreach (var n in cluster.Nodes.OrderByDescending(n => n.Registration.NodeId, StringComparer.Ordinal).Take(s.LostNodes).ToList())
                    cluster.LoseNode(n.Registration.NodeId);
                disturbed = true;
            }
            cluster.Tick();
            CheckBounds(cluster, hardCap, limits);
            if (!disturbed && cluster.Routed < floor)
                Assert.Fail($"tick {cluster.Ticks}: {cluster.Routed} replicas serve during the roll, below the rule's {floor} (target {s.Target}, {spare} spare slot(s))");
            if (tick >= Math.Max(s.ChangeAtTick, s.LossAtTick) && Done(cluster, target, hardCap)) break;
        }
        // Running replicas are never moved (as in Ray), so after a roll the spread is even only where each node
        // could hold its share of both versions at once; with tighter nodes the new version lands where the old
        // one left room.
        var roomForBoth = cluster.Nodes.All(n => Math.Min(n.Registration.Capacity > 0 ? n.Registration.Capacity : int.MaxValue, hardCap ?? int.MaxValue) >=
            Share(s.Target, cluster.Nodes.Count) + Share(target, cluster.Nodes.Count));
        Converge(cluster, target, Math.Min(target, Slots(cluster, hardCap)), hardCap, bound, "the rolling update", checkSpread: roomForBoth);
        Assert.All(cluster.Dep.Alive, r => Assert.True(cluster.Dep.IsCurrent(r), $"replica {r.ReplicaId} of an old version is left after the roll"));
    }

    /// <summary>Replica slots the deployment can use: per node, its capacity, capped by max_replicas_per_node.</summary>
    private static int Slots(FakeCluster cluster, int? hardCap) => (int)Math.Min(int.MaxValue,
        cluster.Nodes.Sum(n => (long)Math.Min(n.Registration.Capacity > 0 ? n.Registration.Capacity : int.MaxValue, hardCap ?? int.MaxValue)));

    /// <summary>Ticks a deployment of this size may take: a few per wave of starts (one wave is at least one replica).</summary>
    private static int Bound(int target) => 40 + 6 * target;

    private static bool Done(FakeCluster cluster, int target, int? hardCap)
    {
        var dep = cluster.Dep;
        return dep.Alive.All(dep.IsCurrent) && dep.Replicas.All.All(r => r.State == ReplicaState.RUNNING) &&
            cluster.Routed == Math.Min(target, Slots(cluster, hardCap));
    }

    private static int Share(int target, int nodes) => nodes == 0 ? 0 : (target + nodes - 1) / nodes;

    private static void Converge(FakeCluster cluster, int target, int expected, int? hardCap, int bound, string what, bool checkSpread = true)
    {
        var start = cluster.Ticks;
        while (!Done(cluster, target, hardCap) && cluster.Ticks - start < bound) cluster.Tick();
        Assert.True(Done(cluster, target, hardCap),
            $"{what} did not finish within {bound} ticks: {cluster.Routed} of {expected} serve; {cluster.Dep.Message}; {cluster.Dep.PlacementNote}");
        if (checkSpread) CheckSpread(cluster, hardCap);
    }

    /// <summary>Never above a node's capacity, max_replicas_per_node, or the start bound, at any tick.</summary>
    private static void CheckBounds(FakeCluster cluster, int? hardCap, ReplicaLimits limits)
    {
        foreach (var n in cluster.Nodes)
        {
            var id = n.Registration.NodeId;
            var records = cluster.State.AllReplicas().Where(r => r.NodeId == id).ToList();
            if (n.Registration.Capacity > 0)
                Assert.True(records.Count <= n.Registration.Capacity, $"tick {cluster.Ticks}: {records.Count} replicas on {id}, capacity {n.Registration.Capacity}");
            if (hardCap is { } m)
                Assert.True(records.Count(r => r.IsAlive) <= m, $"tick {cluster.Ticks}: {records.Count(r => r.IsAlive)} alive replicas on {id}, max_replicas_per_node {m}");
            Assert.True(records.Count(r => r.State == ReplicaState.STARTING) <= limits.MaxStartingPerNode, $"tick {cluster.Ticks}: too many starting on {id}");
        }
    }

    /// <summary>Within one of even where capacity allows: a node with two fewer than another is full.</summary>
    private static void CheckSpread(FakeCluster cluster, int? hardCap)
    {
        var counts = cluster.Nodes.ToDictionary(n => n.Registration.NodeId, n => cluster.Dep.Alive.Count(r => r.NodeId == n.Registration.NodeId));
        var most = counts.Values.DefaultIfEmpty(0).Max();
        foreach (var n in cluster.Nodes)
        {
            var count = counts[n.Registration.NodeId];
            var full = (n.Registration.Capacity > 0 && count >= n.Registration.Capacity) || count >= (hardCap ?? int.MaxValue);
            Assert.True(count >= most - 1 || full,
                $"uneven spread: {n.Registration.NodeId} has {count} replicas and room, another node has {most} ({string.Join(", ", counts.Select(c => $"{c.Key}={c.Value}"))})");
        }
    }
}
