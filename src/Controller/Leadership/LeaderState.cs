namespace ServeAspire.Controller.Leadership;

/// <summary>This controller instance and whether it leads (with which fencing token).</summary>
/// <param name="time">The clock the lease is timed on (its monotonic timestamp): tests pass a fake one.</param>
public sealed class LeaderState(TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public string InstanceId { get; } = Guid.NewGuid().ToString("N")[..12];
    /// <summary>This instance's own address (not the shared API port), for the standby to forward to.</summary>
    public string InternalAddress { get; set; } = "";

    private long _token;
    private long _validUntil; // TimeProvider timestamp

    /// <summary>
    /// The fencing token of the current tenure; 0 when not leading — including when the lease may have
    /// expired without our noticing (a process paused past its TTL must not act, or claim to lead, on
    /// resume before it has renewed).
    /// </summary>
    public long Token => _time.GetTimestamp() < Interlocked.Read(ref _validUntil) ? Interlocked.Read(ref _token) : 0;
    public bool IsLeader => Token > 0;

    /// <summary>
    /// Records a successful acquire/renew. <paramref name="sentAt"/> is when the request left: the store's
    /// TTL started no earlier, so our view of the lease never outlives the store's (10 % margin).
    /// </summary>
    public void Renewed(long sentAt, TimeSpan ttl) =>
        Interlocked.Exchange(ref _validUntil, sentAt + (long)(ttl.TotalSeconds * 0.9 * _time.TimestampFrequency));

    /// <summary>Who leads, as last read from the lease (null: nobody, or unknown).</summary>
    public LeaseRecord? Leader { get; set; }

    /// <summary>Writes this instance attempted with a stale token and the store refused.</summary>
    public long FencedWrites => Interlocked.Read(ref _fencedWrites);
    private long _fencedWrites;

    public event Action<long>? BecameLeader;
    public event Action<string>? SteppedDown;

    public void Lead(long token, long sentAt, TimeSpan ttl)
    {
        Renewed(sentAt, ttl);
        Interlocked.Exchange(ref _token, token);
        Interlocked.Increment(ref _tenures);
        BecameLeader?.Invoke(token);
    }

    public void StepDown(string reason)
    {
        Interlocked.Exchange(ref _validUntil, 0);
        if (Interlocked.Exchange(ref _token, 0) != 0)
        {
            Interlocked.Increment(ref _stepDowns);
            SteppedDown?.Invoke(reason);
        }
    }

    /// <summary>Tenures this instance has begun (times it became leader).</summary>
    public long Tenures => Interlocked.Read(ref _tenures);
    private long _tenures;

    /// <summary>Tenures this instance has ended (stepped down, for whatever reason).</summary>
    public long StepDowns => Interlocked.Read(ref _stepDowns);
    private long _stepDowns;

    /// <summary>True while a tenure is recorded, fresh or not (the election loop still has to renew or step down).</summary>
    public bool HoldsTenure => Interlocked.Read(ref _token) > 0;

    /// <summary>The recorded tenure's token, fresh or not (for the renewal call itself).</summary>
    public long TenureToken => Interlocked.Read(ref _token);

    public void CountFencedWrite() => Interlocked.Increment(ref _fencedWrites);

    /// <summary>Starts and stops a node refused because it had seen a newer leader's token.</summary>
    public long FencedNodeCalls => Interlocked.Read(ref _fencedNodeCalls);
    private long _fencedNodeCalls;

    public void CountFencedNodeCall() => Interlocked.Increment(ref _fencedNodeCalls);
}

/// <summary>The lease record in the store.</summary>
public sealed record LeaseRecord(string Holder, string Address, long Token);

/// <summary>The lease as read from the store, with its remaining time there (its PTTL when read; null: no expiry).</summary>
public sealed record LeaseView(LeaseRecord Record, TimeSpan? Remaining);

/// <summary>The store (or a node) refused a write: a newer leader holds the fencing token.</summary>
public sealed class FencedException(long token, string? byNode = null)
    : Exception(byNode is null ? $"write refused: fencing token {token} is stale (a newer leader exists)"
        : $"node {byNode} refused a call: fencing token {token} is stale (a newer leader exists)")
{
    public long Token { get; } = token;
    /// <summary>The node that refused, or null when the store did.</summary>
    public string? ByNode { get; } = byNode;
}
