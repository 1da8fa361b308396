using Microsoft.Extensions.Time.Testing;
using ServeAspire.Controller.Leadership;

namespace ServeAspire.UnitTests.Leadership;

public sealed class LeaderStateTests
{
    private readonly FakeTimeProvider _clock = new();

    [Fact]
    public void AFreshLease_Leads()
    {
        var s = new LeaderState(_clock);
        s.Lead(7, _clock.GetTimestamp(), TimeSpan.FromSeconds(3));
        Assert.True(s.IsLeader);
        Assert.Equal(7, s.Token);
    }

    [Fact]
    public void ALeaseNotRenewedForATtl_NoLongerLeads_ThoughTheTenureIsStillRecorded()
    {
        // As after a SIGSTOP longer than the TTL: the process must not act or claim to lead before renewing.
        var s = new LeaderState(_clock);
        var longAgo = _clock.GetTimestamp() - 4 * _clock.TimestampFrequency;
        s.Lead(7, longAgo, TimeSpan.FromSeconds(3));
        Assert.False(s.IsLeader);
        Assert.Equal(0, s.Token);
        Assert.True(s.HoldsTenure);
        Assert.Equal(7, s.TenureToken);
    }

    [Fact]
    public void OurViewOfTheLease_EndsBeforeTheStoresDoes()
    {
        var s = new LeaderState(_clock);
        var sentAt = _clock.GetTimestamp() - (long)(2.8 * _clock.TimestampFrequency); // 2.8 s of a 3 s TTL: past the 10 % margin
        s.Lead(1, sentAt, TimeSpan.FromSeconds(3));
        Assert.False(s.IsLeader);
    }

    [Fact]
    public void SteppingDown_ClearsTheTenure_AndSaysWhy()
    {
        var s = new LeaderState(_clock);
        string? reason = null;
        s.SteppedDown += r => reason = r;
        s.Lead(3, _clock.GetTimestamp(), TimeSpan.FromSeconds(3));
        s.StepDown("fenced");
        Assert.False(s.HoldsTenure);
        Assert.Equal("fenced", reason);
    }

    [Fact]
    public void TheLease_LapsesOnTheInjectedClock_At90PercentOfTheTtl()
    {
        var s = new LeaderState(_clock);
        s.Lead(9, _clock.GetTimestamp(), TimeSpan.FromSeconds(10));
        _clock.Advance(TimeSpan.FromSeconds(8.9));
        Assert.Equal(9, s.Token);
        _clock.Advance(TimeSpan.FromSeconds(0.2));
        Assert.Equal(0, s.Token);
        s.Renewed(_clock.GetTimestamp(), TimeSpan.FromSeconds(10));
        Assert.Equal(9, s.Token);
    }
}
