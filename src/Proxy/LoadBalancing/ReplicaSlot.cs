using ServeAspire.Model;

namespace ServeAspire.Proxy.LoadBalancing;

/// <summary>A replica as the proxy sees it: where it is and how many requests it has in flight from here.</summary>
internal sealed class ReplicaSlot(ReplicaEndpoint endpoint)
{
    private int _inFlight;

    public ReplicaEndpoint Endpoint { get; } = endpoint;

    /// <summary>Ray's tags for this replica's request metrics: deployment, replica, route, application (set with the route).</summary>
    public KeyValuePair<string, object?>[] MetricTags { get; private set; } = [];

    /// <summary>Ray's tags for this replica's gauges: deployment, replica, application.</summary>
    public KeyValuePair<string, object?>[] GaugeTags { get; private set; } = [];

    /// <summary>Builds the tag arrays once per routing change, so recording a request allocates nothing.</summary>
    public void TagWith(RouteEntry route)
    {
        if (MetricTags.Length == 4 && Equals(MetricTags[2].Value, route.RoutePrefix) && Equals(MetricTags[3].Value, route.Application) && Equals(MetricTags[0].Value, route.Deployment))
            return;
        GaugeTags = [new("deployment", route.Deployment), new("replica", Endpoint.ReplicaId), new("application", route.Application)];
        MetricTags = [new("deployment", route.Deployment), new("replica", Endpoint.ReplicaId), new("route", route.RoutePrefix), new("application", route.Application)];
    }

    private volatile bool _retired;

    /// <summary>Left the routing table: its freed slots are not handed to waiting requests.</summary>
    public bool Retired { get => _retired; set => _retired = value; }
    public int InFlight => Volatile.Read(ref _inFlight);

    private long _suspectUntilTicks;

    /// <summary>True for a while after the replica failed a request (passive health, like YARP's).</summary>
    public bool Suspect => Environment.TickCount64 < Volatile.Read(ref _suspectUntilTicks);

    public void MarkSuspect(TimeSpan duration) => Volatile.Write(ref _suspectUntilTicks, Environment.TickCount64 + (long)duration.TotalMilliseconds);

    public void ClearSuspect() => Volatile.Write(ref _suspectUntilTicks, 0);

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

    private int _timeoutsInARow;

    /// <summary>Counts a request that hit request_timeout_s here; returns how many in a row.</summary>
    public int RecordTimeout() => Interlocked.Increment(ref _timeoutsInARow);

    /// <summary>An answer ends the streak (a read on the hot path, a write only after a timeout).</summary>
    public void RecordAnswer()
    {
        if (Volatile.Read(ref _timeoutsInARow) != 0) Volatile.Write(ref _timeoutsInARow, 0);
    }
}
