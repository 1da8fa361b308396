using ServeAspire.Model;

namespace ServeAspire.Proxy.LoadBalancing;

/// <summary>
/// Chooses a replica of one deployment for each request and queues requests while every replica
/// is at <c>max_ongoing_requests</c> (up to <c>max_queued_requests</c>), first come first served:
/// a released slot goes straight to the oldest waiter that may use it. In-flight counts survive
/// routing-table updates for replicas that stay. A deployment that scales from zero
/// (<see cref="RouteEntry.ScalesFromZero"/>) queues requests the same way while it has no replica at
/// all; the routing-table update that brings one wakes them.
/// </summary>
internal sealed class DeploymentRouter(PowerOfTwoChoicesPolicy policy, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Lock _lock = new();
    private readonly LinkedList<Waiter> _waiters = new();
    private ReplicaSlot[] _slots = [];
    private int _queued;
    private int _slowPath;

    public RouteEntry Route { get; private set; } = null!;

    /// <summary>Requests in flight to this deployment's replicas plus those queued for one (the autoscaler's input).</summary>
    public int Ongoing
    {
        get
        {
            var total = Volatile.Read(ref _queued);
            foreach (var slot in Volatile.Read(ref _slots)) total += slot.InFlight;
            return total;
        }
    }
    public IReadOnlyList<ReplicaSlot> Slots => Volatile.Read(ref _slots);

    /// <summary>Requests waiting for a replica of this deployment (Ray's serve_deployment_queued_queries).</summary>
    public int Queued => Volatile.Read(ref _queued);

    /// <summary>
    /// How long a request may wait with no replica to go to (scale from zero) before it is refused; infinite
    /// when request_timeout_s bounds the whole request instead. Set by the routing-table state.
    /// </summary>
    public TimeSpan ColdStartTimeout { get; set; } = Timeout.InfiniteTimeSpan;

    /// <summary>A queued request. Its result is a slot handed over (already counted as taken), or null: look again.</summary>
    private sealed class Waiter(HashSet<ReplicaSlot>? exclude) : TaskCompletionSource<ReplicaSlot?>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public HashSet<ReplicaSlot>? Exclude { get; } = exclude;
    }

    public void Update(RouteEntry route)
    {
        lock (_lock)
        {
            var old = _slots.ToDictionary(s => s.Endpoint.ReplicaId);
            var next = route.Replicas.Select(e =>
            {
                // Same replica: keep its in-flight count and its suspicion (which expires by itself).
                if (!old.Remove(e.ReplicaId, out var slot) || slot.Endpoint != e) slot = new ReplicaSlot(e);
                slot.TagWith(route);
                return slot;
            }).ToArray();
            foreach (var gone in old.Values) gone.Retired = true; // its slots are never handed over again
            _slots = next;
            Route = route;
        }
        WakeAll();
    }

    public enum AcquireStatus { Acquired, NoReplicas, QueueFull, ColdStartTimedOut }

    /// <summary>Takes a slot on some replica, waiting for one to free up if all are busy.</summary>
    /// <remarks>
    /// While nobody waits, a request takes a slot without a lock and without allocating: slots are
    /// taken by compare-and-swap. Once requests queue, every request goes through the lock, so a
    /// newcomer cannot overtake them.
    /// </remarks>
    public ValueTask<(AcquireStatus Status, ReplicaSlot? Slot)> AcquireAsync(HashSet<ReplicaSlot>? exclude, CancellationToken cancellationToken)
    {
        if (exclude is null && Volatile.Read(ref _slowPath) == 0 && policy.TryPick(Volatile.Read(ref _slots), Route.MaxOngoingRequests) is { } pick)
            return ValueTask.FromResult((AcquireStatus.Acquired, (ReplicaSlot?)pick));
        return AcquireSlowAsync(exclude, cancellationToken);
    }

    private async ValueTask<(AcquireStatus Status, ReplicaSlot? Slot)> AcquireSlowAsync(HashSet<ReplicaSlot>? exclude, CancellationToken cancellationToken)
    {
        var queued = false;
        var woken = false;
        // Read once: a later table changing request_timeout_s does not move this request's bound.
        var coldLimit = ColdStartTimeout;
        long? coldSince = null;
        // Announced (a full fence) before looking at the slots; Release reads it after freeing a
        // slot, so either we see the free slot or Release sees us and wakes a waiter.
        Interlocked.Increment(ref _slowPath);
        try
        {
            while (true)
            {
                Waiter waiter;
                LinkedListNode<Waiter> node;
                var coldWait = Timeout.InfiniteTimeSpan;
                lock (_lock)
                {
                    var slots = _slots;
                    if (slots.Length == 0 && Route.ScalesFromZero)
                    {
                        // Scaling from zero: wait for the table that brings a replica, bounded by the cold-start timeout.
                        coldSince ??= _time.GetTimestamp();
                        if (coldLimit != Timeout.InfiniteTimeSpan)
                        {
                            coldWait = coldLimit - _time.GetElapsedTime(coldSince.Value);
                            if (coldWait <= TimeSpan.Zero) return (AcquireStatus.ColdStartTimedOut, null);
                        }
                    }
                    else
                    {
                        var remaining = slots.Length;
                        if (exclude is not null)
                            foreach (var s in slots)
                                if (exclude.Contains(s)) remaining--;
                        if (remaining == 0) return (AcquireStatus.NoReplicas, null);
                        var pick = policy.TryPick(slots, Route.MaxOngoingRequests, exclude);
                        if (pick is not null) return (AcquireStatus.Acquired, pick);
                    }
                    if (!queued)
                    {
                        if (Route.MaxQueuedRequests >= 0 && _queued >= Route.MaxQueuedRequests) return (AcquireStatus.QueueFull, null);
                        _queued++;
                        queued = true;
                    }
                    waiter = new Waiter(exclude);
                    // Woken to look again and found nothing: back to the head of the line, not its end.
                    node = woken ? _waiters.AddFirst(waiter) : _waiters.AddLast(waiter);
                }
                ReplicaSlot? handed;
                try
                {
                    // The cold-start deadline only wakes the waiter: the loop above sees the time is up. A slot
                    // handed over first wins the race (TrySetResult), so none is lost.
                    using var coldTimer = coldWait == Timeout.InfiniteTimeSpan ? null
                        : _time.CreateTimer(static w => ((Waiter)w!).TrySetResult(null), waiter, coldWait, Timeout.InfiniteTimeSpan);
                    using (cancellationToken.Register(static (w, ct) => ((Waiter)w!).TrySetCanceled(ct), waiter))
                        handed = await waiter.Task;
                }
                finally
                {
                    // Cancelled: leave the line now, rather than wait for a release to skip us. The cold-start timer
                    // completes the waiter without taking it off the line either (only on that rare path: the lock).
                    if (!waiter.Task.IsCompletedSuccessfully || coldWait != Timeout.InfiniteTimeSpan)
                        lock (_lock) if (node.List is not null) _waiters.Remove(node);
                }
                if (handed is not null) return (AcquireStatus.Acquired, handed);
                woken = true;
            }
        }
        finally
        {
            if (queued) lock (_lock) _queued--;
            Interlocked.Decrement(ref _slowPath);
        }
    }

    public void Release(ReplicaSlot slot)
    {
        if (Volatile.Read(ref _slowPath) == 0)
        {
            slot.Release(); // an interlocked decrement: a full fence before the read below
            // Still nobody on the slow path: one that announces itself later sees the free slot.
            if (Volatile.Read(ref _slowPath) != 0) WakeFirst();
            return;
        }
        lock (_lock)
        {
            // Hand the slot, still counted as taken, to the oldest waiter that may use it: no race
            // with newcomers, and no second pick. A suspect or departed replica's slot is not handed on.
            if (!slot.Suspect && !slot.Retired)
            {
                for (var node = _waiters.First; node is not null;)
                {
                    var next = node.Next;
                    if (node.Value.Exclude?.Contains(slot) != true)
                    {
                        _waiters.Remove(node);
                        if (node.Value.TrySetResult(slot)) return;
                    }
                    node = next;
                }
            }
            slot.Release();
        }
        WakeFirst(); // nobody could take it as it was: let the oldest waiter look again
    }

    private void WakeFirst()
    {
        while (true)
        {
            Waiter? first;
            lock (_lock)
            {
                first = _waiters.First?.Value;
                if (first is null) return;
                _waiters.RemoveFirst();
            }
            if (first.TrySetResult(null)) return; // else it was cancelled and not yet gone: the next one
        }
    }

    private void WakeAll()
    {
        List<Waiter> all;
        lock (_lock)
        {
            all = [.. _waiters];
            _waiters.Clear();
        }
        foreach (var w in all) w.TrySetResult(null);
    }
}
