namespace ServeAspire.Controller.Deployments;

/// <summary>The most recent dead replicas, newest first, bounded (what the State API lists as DEAD).</summary>
public sealed class DeadReplicaHistory(int capacity)
{
    private readonly LinkedList<DeadReplica> _items = new();

    public IReadOnlyCollection<DeadReplica> Items => _items;

    public void Add(DeadReplica replica)
    {
        _items.AddFirst(replica);
        while (_items.Count > capacity) _items.RemoveLast();
    }

    public void Clear() => _items.Clear();
}
