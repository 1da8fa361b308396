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
    public static IReadOnlyList<string> Place(int count, IEnumerable<string> nodes, IReadOnlyDictionary<string, int> deploymentCounts,
        IReadOnlyDictionary<string, int> totalCounts, int maxPerNode, IReadOnlyDictionary<string, int>? room = null)
    {
        var dep = nodes.Distinct().ToDictionary(n => n, n => deploymentCounts.GetValueOrDefault(n));
        var total = dep.Keys.ToDictionary(n => n, n => totalCounts.GetValueOrDefault(n));
        var left = dep.Keys.ToDictionary(n => n, n => room?.GetValueOrDefault(n) ?? int.MaxValue);
        var placed = new List<string>(count);
        for (var i = 0; i < count; i++)
        {
            var choice = dep.Keys
                .Where(n => dep[n] < maxPerNode && left[n] > 0)
                .OrderBy(n => dep[n]).ThenBy(n => total[n]).ThenBy(n => n, StringComparer.Ordinal)
                .FirstOrDefault();
            if (choice is null) break;
            placed.Add(choice);
            left[choice]--;
            dep[choice]++;
            total[choice]++;
        }
        return placed;
    }

    /// <summary>Which replicas to stop when scaling down: starting ones first, then from the most crowded nodes.</summary>
    public static IReadOnlyList<T> ChooseVictims<T>(IReadOnlyList<T> alive, int count, Func<T, string> node, Func<T, bool> isStarting, Func<T, DateTimeOffset> started)
    {
        var perNode = alive.GroupBy(node).ToDictionary(g => g.Key, g => g.Count());
        var victims = new List<T>(count);
        var remaining = alive.ToList();
        for (var i = 0; i < count && remaining.Count > 0; i++)
        {
            var v = remaining
                .OrderByDescending(isStarting)
                .ThenByDescending(r => perNode[node(r)])
                .ThenByDescending(started)
                .First();
            victims.Add(v);
            remaining.Remove(v);
            perNode[node(v)]--;
        }
        return victims;
    }
}
