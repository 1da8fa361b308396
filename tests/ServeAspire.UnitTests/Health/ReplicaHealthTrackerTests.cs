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

    [Fact]
    public void Jitter_KeepsThePeriodWithinTenPercent()
    {
        var probe = new FakeProbe();
        var early = new ReplicaHealthTracker(probe, () => 0.0);
        early.Update([Replica], T0, default);
        early.Update([Replica], T0.AddSeconds(0.89), default);
        Assert.Equal(0, probe.Calls);
        early.Update([Replica], T0.AddSeconds(0.9), default);
        Assert.Equal(1, probe.Calls);
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
