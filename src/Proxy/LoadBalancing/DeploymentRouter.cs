using ServeAspire.Model;

namespace ServeAspire.Proxy.LoadBalancing;

/// <summary>
/// Chooses a replica of one deployment for each request and queues requests while every replica
/// is at <c>max_ongoing_requests</c> (up to <c>max_queued_requests</c>). In-flight counts survive
/// routing-table updates for replicas that stay.
/// </summary>
internal sealed class DeploymentRouter(PowerOfTwoChoicesPolicy policy)
{
    private readonly Lock _lock = new();
    private readonly LinkedList<TaskCompletionSource> _waiters = new();
    private ReplicaSlot[] _slots = [];
    private int _queued;
    private int _slowPath;

    public RouteEntry Route { get; private set; } = null!;
    public IReadOnlyList<ReplicaSlot> Slots => Volatile.Read(ref _slots);

    public void Update(RouteEntry route)
    {
        lock (_lock)
        {
            var old = _slots.ToDictionary(s => s.Endpoint.ReplicaId);
            _slots = route.Replicas.Select(e =>
            {
                // Same replica: keep its in-flight count and its suspicion (which expires by itself).
                if (old.TryGetValue(e.ReplicaId, out var slot) && slot.Endpoint == e) return slot;
                return new ReplicaSlot(e);
            }).ToArray();
            Route = route;
        }
        WakeAll();
    }

    public enum AcquireStatus { Acquired, NoReplicas, QueueFull }

    /// <summary>Takes a slot on some replica, waiting for one to free up if all are busy.</summary>
    /// <remarks>
    /// The common case (a free slot, nothing excluded) takes no lock and allocates nothing: slots are
    /// taken by compare-and-swap. Only a request that found every replica busy takes the lock, looks
    /// again and queues, so a slot released in between is never missed (<see cref="Release"/> wakes
    /// waiters under the same lock).
    /// </remarks>
    public ValueTask<(AcquireStatus Status, ReplicaSlot? Slot)> AcquireAsync(HashSet<ReplicaSlot>? exclude, CancellationToken cancellationToken)
    {
        // Only while nobody waits: a queued request must not lose every freed slot to newcomers.
        if (exclude is null && Volatile.Read(ref _slowPath) == 0 && policy.TryPick(Volatile.Read(ref _slots), Route.MaxOngoingRequests) is { } pick)
            return ValueTask.FromResult((AcquireStatus.Acquired, (ReplicaSlot?)pick));
        return AcquireSlowAsync(exclude, cancellationToken);
    }

    private async ValueTask<(AcquireStatus Status, ReplicaSlot? Slot)> AcquireSlowAsync(HashSet<ReplicaSlot>? exclude, CancellationToken cancellationToken)
    {
        var queued = false;
        var woken = false;
        // Announced before looking at the slots (a full fence), so a concurrent Release either freed
        // its slot before we look, or sees us and wakes a waiter under the lock (see Release).
        Interlocked.Increment(ref _slowPath);
        try
        {
            while (true)
            {
                TaskCompletionSource waiter;
                lock (_lock)
                {
                    var slots = _slots;
                    var remaining = slots.Length;
                    if (exclude is not null)
                        foreach (var s in slots)
                            if (exclude.Contains(s)) remaining--;
                    if (remaining == 0) return (AcquireStatus.NoReplicas, null);
                    var pick = policy.TryPick(slots, Route.MaxOngoingRequests, exclude);
                    if (pick is not null) return (AcquireStatus.Acquired, pick);
                    if (!queued)
                    {
                        if (Route.MaxQueuedRequests >= 0 && _queued >= Route.MaxQueuedRequests) return (AcquireStatus.QueueFull, null);
                        _queued++;
                        queued = true;
                    }
                    waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    // Woken but beaten to the slot: back to the head of the line, not its end.
                    if (woken) _waiters.AddFirst(waiter);
                    else _waiters.AddLast(waiter);
                }
                using (cancellationToken.Register(static (w, ct) => ((TaskCompletionSource)w!).TrySetCanceled(ct), waiter))
                    await waiter.Task;
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
        slot.Release(); // an interlocked decrement: a full fence before the read below
        // No request on the slow path: no lock. One that announces itself after this read looks at
        // the slots after our release, so it sees the free slot.
        if (Volatile.Read(ref _slowPath) == 0) return;
        TaskCompletionSource? next = null;
        lock (_lock)
        {
            if (_waiters.First is { } first)
            {
                next = first.Value;
                _waiters.RemoveFirst();
            }
        }
        next?.TrySetResult();
    }

    private void WakeAll()
    {
        List<TaskCompletionSource> all;
        lock (_lock)
        {
            all = [.. _waiters];
            _waiters.Clear();
        }
        foreach (var w in all) w.TrySetResult();
    }
}
