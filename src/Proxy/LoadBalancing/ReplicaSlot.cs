using ServeAspire.Model;

namespace ServeAspire.Proxy.LoadBalancing;

/// <summary>A replica as the proxy sees it: where it is and how many requests it has in flight from here.</summary>
internal sealed class ReplicaSlot(ReplicaEndpoint endpoint)
{
    private int _inFlight;

    public ReplicaEndpoint Endpoint { get; } = endpoint;
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Set when a connection to the replica failed; cleared when a newer routing table lists it again.</summary>
    public volatile bool Suspect;

    /// <summary>Takes one of the replica's <paramref name="max"/> slots, if one is free.</summary>
    public bool TryAcquire(int max)
    {
        while (true)
        {
            var current = Volatile.Read(ref _inFlight);
            if (current >= max) return false;
            if (Interlocked.CompareExchange(ref _inFlight, current + 1, current) == current) return true;
        }
    }

    public void Release() => Interlocked.Decrement(ref _inFlight);
}
