namespace ServeAspire.Controller.Placement;

/// <summary>
/// Spread placement (Ray's default SPREAD for replicas): each new replica goes to the node with the
/// fewest replicas of its deployment, then the fewest replicas overall, at most
/// <c>max_replicas_per_node</c> (else ceil(target / nodes)) per node.
/// </summary>
public static class DeploymentScheduler
{
    public static int MaxPerNode(int targetReplicas, int liveNodes, int? maxReplicasPerNode) =>
        maxReplicasPerNode ?? (liveNodes == 0 ? 0 : (targetReplicas + liveNodes - 1) / liveNodes);

    /// <param name="nodes">Live node ids.</param>
    /// <param name="deploymentCounts">Replicas of this deployment per node (alive ones).</param>
    /// <param name="totalCounts">Replicas of all deployments per node.</param>
    /// <param name="room">How many more replicas each node may start now (capacity, start bounds); absent: no limit.</param>
    /// <returns>One node id per replica placed; fewer than <paramref name="count"/> when nodes are full.</returns>
    /// <remarks>
    /// A min-heap keyed (replicas of this deployment, replicas overall, node id): each pick pops the
    /// best node and pushes it back with its counts raised, so placing k replicas on n nodes costs
    /// O((n + k) log n) rather than a sort per pick.
    /// </remarks>
    public static IReadOnlyList<string> Place(int count, IEnumerable<string> nodes, IReadOnlyDictionary<string, int> deploymentCounts,
        IReadOnlyDictionary<string, int> totalCounts, int maxPerNode, IReadOnlyDictionary<string, int>? room = null)
    {
        var placed = new List<string>(Math.Max(0, count));
        if (count <= 0) return placed;
        var heap = new PriorityQueue<string, (int Deployment, int Total, string Node)>(Comparer<(int Deployment, int Total, string Node)>.Create(static (a, b) =>
        {
            var c = a.Deployment.CompareTo(b.Deployment);
            if (c != 0) return c;
            c = a.Total.CompareTo(b.Total);
            return c != 0 ? c : string.CompareOrdinal(a.Node, b.Node);
        }));
        var left = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var n in nodes)
        {
            if (left.ContainsKey(n)) continue;
            left[n] = room?.GetValueOrDefault(n) ?? int.MaxValue;
            var dep = deploymentCounts.GetValueOrDefault(n);
            if (dep < maxPerNode && left[n] > 0) heap.Enqueue(n, (dep, totalCounts.GetValueOrDefault(n), n));
        }
        while (placed.Count < count && heap.TryDequeue(out var node, out var key))
        {
            placed.Add(node);
            left[node]--;
            if (key.Deployment + 1 < maxPerNode && left[node] > 0) heap.Enqueue(node, (key.Deployment + 1, key.Total + 1, node));
        }
        return placed;
    }

    /// <summary>Which replicas to stop when scaling down: starting ones first, then from the most crowded nodes, newest first.</summary>
    /// <remarks>
    /// Each node's candidates are sorted once (starting first, then newest); a pick compares only the
    /// head of each node's queue, so k victims among r replicas on n nodes cost O(r log r + k·n).
    /// </remarks>
    public static IReadOnlyList<T> ChooseVictims<T>(IReadOnlyList<T> alive, int count, Func<T, string> node, Func<T, bool> isStarting, Func<T, DateTimeOffset> started)
    {
        var queues = alive.Select((r, i) => (Replica: r, Index: i))
            .GroupBy(x => node(x.Replica))
            .Select(g => new Queue<(T Replica, int Index)>(g.OrderByDescending(x => isStarting(x.Replica)).ThenByDescending(x => started(x.Replica)).ThenBy(x => x.Index)))
            .ToList();
        var victims = new List<T>(Math.Max(0, count));
        while (victims.Count < count)
        {
            Queue<(T Replica, int Index)>? best = null;
            foreach (var q in queues)
            {
                if (q.Count == 0) continue;
                if (best is null || Better(q, best)) best = q;
            }
            if (best is null) break;
            victims.Add(best.Dequeue().Replica);
        }
        return victims;

        // The same order as before: starting first, then the node with most replicas left, then newest, then list order.
        bool Better(Queue<(T Replica, int Index)> a, Queue<(T Replica, int Index)> b)
        {
            var (ra, ia) = a.Peek();
            var (rb, ib) = b.Peek();
            if (isStarting(ra) != isStarting(rb)) return isStarting(ra);
            if (a.Count != b.Count) return a.Count > b.Count;
            var sa = started(ra);
            var sb = started(rb);
            return sa != sb ? sa > sb : ia < ib;
        }
    }
}
