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
    public async Task<(AcquireStatus Status, ReplicaSlot? Slot)> AcquireAsync(ISet<ReplicaSlot>? exclude, CancellationToken cancellationToken)
    {
        var queued = false;
        try
        {
            while (true)
            {
                TaskCompletionSource waiter;
                lock (_lock)
                {
                    var slots = _slots;
                    var remaining = exclude is null ? slots.Length : slots.Count(s => !exclude.Contains(s));
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
                    _waiters.AddLast(waiter);
                }
                using (cancellationToken.Register(() => waiter.TrySetCanceled(cancellationToken)))
                    await waiter.Task;
            }
        }
        finally
        {
            if (queued) lock (_lock) _queued--;
        }
    }

    public void Release(ReplicaSlot slot)
    {
        slot.Release();
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
