using ServeAspire.Config;
using ServeAspire.Controller.Health;

namespace ServeAspire.UnitTests.Health;

public sealed class ReplicaHealthTrackerTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.UnixEpoch;
    private static readonly DeploymentSpec Spec = new("Dep", "A:B", 1, 5, -1, HealthCheckPeriodS: 1, HealthCheckTimeoutS: 2, 20, 2, null, 20, false);

    private sealed class FakeProbe : IReplicaHealthProbe
    {
        public readonly Queue<TaskCompletionSource<string?>> Pending = new();
        public int Calls;
        public TimeSpan LastTimeout;
        public Task<string?> CheckAsync(string replicaUrl, TimeSpan timeout, CancellationToken cancellationToken)
        {
            Calls++;
            LastTimeout = timeout;
            var tcs = new TaskCompletionSource<string?>();
            Pending.Enqueue(tcs);
            return tcs.Task;
        }
    }

    private static readonly ReplicaHealthTracker.Target Replica = new("r1", "http://127.0.0.1:1", Spec);

    [Fact]
    public void ThreeConsecutiveFailures_MakeAReplicaUnhealthy_Once()
    {
        var probe = new FakeProbe();
        var tracker = new ReplicaHealthTracker(probe, () => 0.5); // no jitter
        var now = T0;
        Assert.Empty(tracker.Update([Replica], now, default)); // first sight: first check one period later
        Assert.Equal(0, probe.Calls);
        IReadOnlyList<ReplicaHealthTracker.Failure> result = [];
        for (var i = 1; i <= 3; i++)
        {
            now = now.AddSeconds(1);
            result = tracker.Update([Replica], now, default); // starts a check
            Assert.Equal(i, probe.Calls);
            Assert.Equal(TimeSpan.FromSeconds(2), probe.LastTimeout);
            probe.Pending.Dequeue().SetResult("boom");
            result = tracker.Update([Replica], now, default); // reads it
        }
        var failure = Assert.Single(result);
        Assert.Equal(("r1", 3, "boom"), (failure.ReplicaId, failure.Failures, failure.Error));
        Assert.Empty(tracker.Update([Replica], now.AddSeconds(1), default));
    }

    [Fact]
    public void ASuccess_ResetsTheCount()
    {
        var probe = new FakeProbe();
        var tracker = new ReplicaHealthTracker(probe, () => 0.5);
        var now = T0;
        tracker.Update([Replica], now, default);
        foreach (var outcome in new[] { "x", "x", null, "x", "x" })
        {
            now = now.AddSeconds(1);
            tracker.Update([Replica], now, default);
            probe.Pending.Dequeue().SetResult(outcome);
            Assert.Empty(tracker.Update([Replica], now, default));
        }
        Assert.Equal(2, tracker.FailuresOf("r1"));
    }

    [Fact]
    public void AHangingCheck_IsNotRestarted_UntilItCompletes()
    {
        var probe = new FakeProbe();
        var tracker = new ReplicaHealthTracker(probe, () => 0.5);
        tracker.Update([Replica], T0, default);
        tracker.Update([Replica], T0.AddSeconds(1), default);
        tracker.Update([Replica], T0.AddSeconds(5), default);
        Assert.Equal(1, probe.Calls); // the probe's own timeout ends it; never two at once
    }

    /// <summary>
    /// Drives one replica through <paramref name="checks"/> passing checks, ticking every millisecond,
    /// and returns the time from first sight to the first check, then between consecutive checks.
    /// </summary>
    private static List<TimeSpan> IntervalsBetweenChecks(Func<double> random, int checks)
    {
        var probe = new FakeProbe();
        var tracker = new ReplicaHealthTracker(probe, random);
        tracker.Update([Replica], T0, default);
        var intervals = new List<TimeSpan>();
        var last = T0;
        for (var ms = 1; intervals.Count < checks; ms++)
        {
            Assert.True(ms < checks * 2_000, "a check never came due");
            var now = T0.AddMilliseconds(ms);
            tracker.Update([Replica], now, default);
            if (probe.Calls == intervals.Count) continue;
            Assert.Equal(intervals.Count + 1, probe.Calls);
            intervals.Add(now - last);
            last = now;
            probe.Pending.Dequeue().SetResult(null);
            tracker.Update([Replica], now, default); // reads the result: the next period starts now
        }
        return intervals;
    }

    [Fact]
    public void Jitter_KeepsThePeriodWithinTenPercent()
    {
        // HealthCheckPeriodS is 1 s: every period lies in [0.9 s, 1.1 s], the first one included.
        var seeded = new Random(12345);
        var draws = new Queue<double>([0.0, Math.BitDecrement(1.0), 0.5]);
        var intervals = IntervalsBetweenChecks(() => draws.Count > 0 ? draws.Dequeue() : seeded.NextDouble(), 200);
        Assert.All(intervals, p => Assert.InRange(p, TimeSpan.FromMilliseconds(900), TimeSpan.FromMilliseconds(1100)));

        // The ends of the random range reach the ends of the window (the clock steps 1 ms).
        Assert.Equal(TimeSpan.FromMilliseconds(900), intervals[0]);
        Assert.Equal(TimeSpan.FromMilliseconds(1100), intervals[1]);
        Assert.Equal(TimeSpan.FromMilliseconds(1000), intervals[2]);

        // And it is jitter, not a fixed period: uniform draws spread over the window, so replicas
        // started together drift apart.
        var rest = intervals.Skip(3).Select(p => p.TotalMilliseconds).ToList();
        Assert.True(rest.Distinct().Count() >= 50, $"only {rest.Distinct().Count()} distinct periods");
        Assert.InRange(rest.Min(), 900, 920);
        Assert.InRange(rest.Max(), 1080, 1100);
    }

    [Fact]
    public void ReplicasThatStopRunning_AreForgotten()
    {
        var probe = new FakeProbe();
        var tracker = new ReplicaHealthTracker(probe, () => 0.5);
        tracker.Update([Replica], T0, default);
        tracker.Update([Replica], T0.AddSeconds(1), default);
        probe.Pending.Dequeue().SetResult("x");
        tracker.Update([Replica], T0.AddSeconds(1), default);
        Assert.Equal(1, tracker.FailuresOf("r1"));
        tracker.Update([], T0.AddSeconds(2), default);
        Assert.Equal(0, tracker.FailuresOf("r1"));
    }
}
