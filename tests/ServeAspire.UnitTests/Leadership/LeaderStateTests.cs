using System.Diagnostics;
using ServeAspire.Controller.Leadership;

namespace ServeAspire.UnitTests.Leadership;

public sealed class LeaderStateTests
{
    [Fact]
    public void AFreshLease_Leads()
    {
        var s = new LeaderState();
        s.Lead(7, Stopwatch.GetTimestamp(), TimeSpan.FromSeconds(3));
        Assert.True(s.IsLeader);
        Assert.Equal(7, s.Token);
    }

    [Fact]
    public void ALeaseNotRenewedForATtl_NoLongerLeads_ThoughTheTenureIsStillRecorded()
    {
        // As after a SIGSTOP longer than the TTL: the process must not act or claim to lead before renewing.
        var s = new LeaderState();
        var longAgo = Stopwatch.GetTimestamp() - 4 * Stopwatch.Frequency;
        s.Lead(7, longAgo, TimeSpan.FromSeconds(3));
        Assert.False(s.IsLeader);
        Assert.Equal(0, s.Token);
        Assert.True(s.HoldsTenure);
        Assert.Equal(7, s.TenureToken);
    }

    [Fact]
    public void OurViewOfTheLease_EndsBeforeTheStoresDoes()
    {
        var s = new LeaderState();
        var sentAt = Stopwatch.GetTimestamp() - (long)(2.8 * Stopwatch.Frequency); // 2.8 s of a 3 s TTL: past the 10 % margin
        s.Lead(1, sentAt, TimeSpan.FromSeconds(3));
        Assert.False(s.IsLeader);
    }

    [Fact]
    public void SteppingDown_ClearsTheTenure_AndSaysWhy()
    {
        var s = new LeaderState();
        string? reason = null;
        s.SteppedDown += r => reason = r;
        s.Lead(3, Stopwatch.GetTimestamp(), TimeSpan.FromSeconds(3));
        s.StepDown("fenced");
        Assert.False(s.HoldsTenure);
        Assert.Equal("fenced", reason);
    }
}
