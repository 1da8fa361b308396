using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using ServeAspire.Controller;
using ServeAspire.Controller.Leadership;
using ServeAspire.UnitTests.Fakes;

namespace ServeAspire.UnitTests.Leadership;

/// <summary>
/// The election rounds of two controller instances over one in-memory lease, on one fake clock: each round
/// says how long to wait, and the clock is advanced to the earliest instance's next round (no sleeps).
/// </summary>
public sealed class LeaderElectionServiceTests
{
    private readonly FakeTimeProvider _clock = new();
    private readonly FakeClusterStore _store;
    private readonly ControllerOptions _options = new(); // the defaults: 1.5 s TTL, renewed every 250 ms
    private readonly Instance _a, _b;

    public LeaderElectionServiceTests()
    {
        _store = new FakeClusterStore { Clock = _clock, Token = 0 };
        _a = new Instance(this);
        _b = new Instance(this);
    }

    private sealed class Instance(LeaderElectionServiceTests t)
    {
        public LeaderState State { get; } = new(t._clock) { InternalAddress = "http://x" };
        /// <summary>When its next round is due (fake-clock timestamp).</summary>
        public long NextAt { get; set; }
        /// <summary>False: killed or paused, it runs no rounds.</summary>
        public bool Running { get; set; } = true;
        public long LedAt { get; set; } = -1;
    }

    private LeaderElectionService ServiceOf(Instance i) =>
        _services.TryGetValue(i, out var s) ? s : _services[i] = new(_store, i.State, Options.Create(_options), _clock, NullLogger<LeaderElectionService>.Instance);
    private readonly Dictionary<Instance, LeaderElectionService> _services = [];

    private TimeSpan Since(long timestamp) => _clock.GetElapsedTime(timestamp);

    /// <summary>
    /// Runs the running instances' rounds in time order until <paramref name="until"/> (on the fake clock),
    /// checking after every round that the two never both count themselves leader.
    /// </summary>
    private async Task RunUntilAsync(TimeSpan until, Func<bool>? stopWhen = null)
    {
        var end = _clock.GetTimestamp() + (long)(until.TotalSeconds * _clock.TimestampFrequency);
        while (stopWhen?.Invoke() != true)
        {
            var next = new[] { _a, _b }.Where(i => i.Running).MinBy(i => i.NextAt);
            if (next is null || next.NextAt > end) break;
            var now = _clock.GetTimestamp();
            if (next.NextAt > now) _clock.Advance(_clock.GetElapsedTime(now, next.NextAt));
            var wait = await ServiceOf(next).RoundAsync(default);
            if (next.State.IsLeader && next.LedAt < 0) next.LedAt = _clock.GetTimestamp();
            next.NextAt = _clock.GetTimestamp() + Math.Max(1, (long)(wait.TotalSeconds * _clock.TimestampFrequency));
            Assert.False(_a.State.IsLeader && _b.State.IsLeader, "both instances count themselves leader");
        }
    }

    [Fact]
    public async Task ADeadLeadersLease_IsTakenWithinMillisecondsOfItsExpiry()
    {
        await RunUntilAsync(TimeSpan.FromSeconds(5));
        Assert.True(_a.State.IsLeader); // the first to run took the lease
        Assert.False(_b.State.IsLeader);

        _a.Running = false; // kill -9: no more renewals
        var killedAt = _clock.GetTimestamp();
        var expiresAt = _clock.GetTimestamp() + (long)((await _store.GetLeaseAsync(default))!.Remaining!.Value.TotalSeconds * _clock.TimestampFrequency);
        await RunUntilAsync(TimeSpan.FromSeconds(5), () => _b.State.IsLeader);

        Assert.True(_b.State.IsLeader);
        Assert.True(_b.State.Token > 1);
        // Never before the lease expired in the store, and right after it did (not a poll interval later).
        Assert.InRange(_clock.GetElapsedTime(expiresAt, _b.LedAt), TimeSpan.Zero, LeaderElectionService.ExpiryMargin + TimeSpan.FromMilliseconds(1));
        Assert.True(Since(killedAt) <= _options.LeaseTtl + LeaderElectionService.ExpiryMargin + TimeSpan.FromMilliseconds(1), $"took over {Since(killedAt)} after the kill");
    }

    [Fact]
    public async Task TwoLateRenewalsInARow_DoNotLoseTheLease()
    {
        await RunUntilAsync(TimeSpan.FromSeconds(2));
        Assert.True(_a.State.IsLeader);
        var token = _a.State.Token;

        // The leader stalls (a GC pause, a stalled store call): the renewals due in one and two intervals never
        // happen, the third is on time. The standby keeps polling meanwhile.
        _a.NextAt += 2 * (long)(_options.LeaseRenewInterval.TotalSeconds * _clock.TimestampFrequency);
        await RunUntilAsync(TimeSpan.FromSeconds(3));

        Assert.True(_a.State.IsLeader);
        Assert.Equal(token, _a.State.Token);
        Assert.Equal(-1, _b.LedAt);
    }

    [Fact]
    public async Task ALeaderPausedPastItsLease_NeitherLeadsNorActsWhenItResumes_AndStepsDownOnItsFirstRound()
    {
        await RunUntilAsync(TimeSpan.FromSeconds(2));
        var oldToken = _a.State.Token;
        Assert.True(oldToken > 0);

        _a.Running = false; // SIGSTOP
        await RunUntilAsync(TimeSpan.FromSeconds(3));
        Assert.True(_b.State.IsLeader);

        // SIGCONT: before its election loop has run, its own clock already says the lease may be gone.
        Assert.True(_a.State.HoldsTenure);
        Assert.Equal(0, _a.State.Token);
        Assert.False(_a.State.IsLeader);
        await ServiceOf(_a).RoundAsync(default);
        Assert.False(_a.State.HoldsTenure); // the renewal was refused: stepped down
        Assert.True(_b.State.Token > oldToken);
    }

    [Fact]
    public async Task AStoreUnreachable_TheLeaderStopsCountingItselfLeaderAt90PercentOfTheTtl_AndStepsDownAfterATtl()
    {
        await RunUntilAsync(TimeSpan.FromSeconds(2));
        Assert.True(_a.State.IsLeader);
        _b.Running = false;
        await ServiceOf(_a).RoundAsync(default); // the last renewal that reaches the store, sent now
        var lastRenewal = _clock.GetTimestamp();
        _a.NextAt = lastRenewal + (long)(_options.LeaseRenewInterval.TotalSeconds * _clock.TimestampFrequency);
        _store.LeaseFails = true;

        // It trusts its lease for 90 % of the TTL from the renewal's send time, whatever its rounds do...
        await RunUntilAsync(_options.LeaseTtl * 0.9 - TimeSpan.FromMilliseconds(1));
        Assert.True(_a.State.IsLeader);
        _clock.Advance(lastRenewal + (long)(_options.LeaseTtl.TotalSeconds * 0.9 * _clock.TimestampFrequency) - _clock.GetTimestamp() is var ticks && ticks > 0
            ? TimeSpan.FromSeconds((double)ticks / _clock.TimestampFrequency) : TimeSpan.Zero);
        Assert.False(_a.State.IsLeader);
        Assert.True(_a.State.HoldsTenure);
        // ...and steps down at its first round a whole TTL after the last renewal.
        await RunUntilAsync(_options.LeaseTtl, () => !_a.State.HoldsTenure);
        Assert.False(_a.State.HoldsTenure);
        Assert.InRange(Since(lastRenewal), _options.LeaseTtl, _options.LeaseTtl + _options.LeaseRenewInterval);
    }

    [Fact]
    public async Task AnAcquireNoReplicaAcknowledged_DoesNotLead_NorLetsAnotherLead_UntilAReplicaAcknowledges()
    {
        _store.AcksFail = true; // the lease and counter reach the primary; WAIT 1 times out
        await RunUntilAsync(TimeSpan.FromSeconds(3));
        Assert.False(_a.State.IsLeader);
        Assert.False(_b.State.IsLeader);
        Assert.False(_a.State.HoldsTenure || _b.State.HoldsTenure);
        var tokensHandedOut = _store.Token; // written on the primary, never acknowledged: nobody acted on them

        _store.AcksFail = false;
        await RunUntilAsync(TimeSpan.FromSeconds(3), () => _a.State.IsLeader || _b.State.IsLeader);
        var leader = _a.State.IsLeader ? _a : _b;
        var lease = (await _store.GetLeaseAsync(default))!.Record;
        Assert.Equal(lease.Holder, leader.State.InstanceId);
        Assert.Equal(lease.Token, leader.State.Token);
        Assert.True(leader.State.Token >= tokensHandedOut); // it leads on the newest token, never on an older one
    }

    [Fact]
    public async Task RenewalsNoReplicaAcknowledges_TheLeaderStopsCountingItselfLeaderAt90PercentOfTheTtl_AndNobodyLeads()
    {
        await RunUntilAsync(TimeSpan.FromSeconds(2));
        Assert.True(_a.State.IsLeader);
        await ServiceOf(_a).RoundAsync(default); // the last acknowledged renewal, sent now
        var lastAcked = _clock.GetTimestamp();
        _a.NextAt = lastAcked + (long)(_options.LeaseRenewInterval.TotalSeconds * _clock.TimestampFrequency);
        _store.AcksFail = true;

        await RunUntilAsync(_options.LeaseTtl * 0.9 - TimeSpan.FromMilliseconds(1));
        Assert.True(_a.State.IsLeader); // its unacknowledged renewals did not extend its trust, the acknowledged one still holds
        var trustEnds = lastAcked + (long)(_options.LeaseTtl.TotalSeconds * 0.9 * _clock.TimestampFrequency);
        if (trustEnds > _clock.GetTimestamp()) _clock.Advance(_clock.GetElapsedTime(_clock.GetTimestamp(), trustEnds));
        Assert.False(_a.State.IsLeader); // 90 % of the TTL after the last acknowledged renewal
        await RunUntilAsync(TimeSpan.FromSeconds(5));
        Assert.False(_a.State.HoldsTenure); // stepped down after a whole TTL without an acknowledged renewal
        Assert.False(_b.State.IsLeader);  // and while no write is acknowledged, nobody leads
        Assert.Equal(-1, _b.LedAt);
    }

    [Theory]
    [InlineData(100, 250, 102)]   // the holder's lease expires before the next poll: wake just after it does
    [InlineData(1400, 250, 250)]  // a fresh lease: poll as usual (a graceful release deletes it at any time)
    [InlineData(0, 250, 2)]       // expiring now
    [InlineData(100, -30, 0)]     // the round took longer than the interval: at once
    public void AStandbyWakes_AtTheNextPollOrJustAfterTheLeaseExpires(int remainingMs, int restOfIntervalMs, int expectedMs)
    {
        var lease = new LeaseView(new LeaseRecord("other", "http://o", 3), TimeSpan.FromMilliseconds(remainingMs));
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), LeaderElectionService.NextRound(TimeSpan.FromMilliseconds(restOfIntervalMs), lease, "self"));
    }

    [Fact]
    public void ALeaseWithoutExpiry_OrOurOwn_WaitsTheInterval()
    {
        var interval = TimeSpan.FromMilliseconds(250);
        Assert.Equal(interval, LeaderElectionService.NextRound(interval, new LeaseView(new LeaseRecord("other", "http://o", 3), null), "self"));
        Assert.Equal(interval, LeaderElectionService.NextRound(interval, new LeaseView(new LeaseRecord("self", "http://s", 3), TimeSpan.FromMilliseconds(10)), "self"));
        Assert.Equal(interval, LeaderElectionService.NextRound(interval, null, "self"));
    }
}
