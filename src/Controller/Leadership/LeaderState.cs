namespace ServeAspire.Controller.Leadership;

/// <summary>This controller instance and whether it leads (with which fencing token).</summary>
public sealed class LeaderState
{
    public string InstanceId { get; } = Guid.NewGuid().ToString("N")[..12];
    /// <summary>This instance's own address (not the shared API port), for the standby to forward to.</summary>
    public string InternalAddress { get; set; } = "";

    private long _token;
    /// <summary>The fencing token of the current tenure; 0 when not leading.</summary>
    public long Token => Interlocked.Read(ref _token);
    public bool IsLeader => Token > 0;

    /// <summary>Who leads, as last read from the lease (null: nobody, or unknown).</summary>
    public LeaseRecord? Leader { get; set; }

    /// <summary>Writes this instance attempted with a stale token and the store refused.</summary>
    public long FencedWrites => Interlocked.Read(ref _fencedWrites);
    private long _fencedWrites;

    public event Action<long>? BecameLeader;
    public event Action<string>? SteppedDown;

    public void Lead(long token)
    {
        Interlocked.Exchange(ref _token, token);
        BecameLeader?.Invoke(token);
    }

    public void StepDown(string reason)
    {
        if (Interlocked.Exchange(ref _token, 0) != 0) SteppedDown?.Invoke(reason);
    }

    public void CountFencedWrite() => Interlocked.Increment(ref _fencedWrites);
}

/// <summary>The lease record in the store.</summary>
public sealed record LeaseRecord(string Holder, string Address, long Token);

/// <summary>The store refused a write: a newer leader holds the fencing token.</summary>
public sealed class FencedException(long token) : Exception($"write refused: fencing token {token} is stale (a newer leader exists)")
{
    public long Token { get; } = token;
}
