namespace ServeAspire.Proxy.LoadBalancing;

/// <summary>
/// Ray's PowerOfTwoChoicesRequestRouter: sample two replicas at random, take the one with fewer
/// requests in flight; replicas at <c>max_ongoing_requests</c> are not candidates.
/// </summary>
internal sealed class PowerOfTwoChoicesPolicy(IRandomSource random)
{
    public const string Name = "PowerOfTwoChoices";

    /// <returns>A replica whose slot was taken, or null when every candidate is full.</returns>
    public ReplicaSlot? TryPick(IReadOnlyList<ReplicaSlot> replicas, int maxOngoing, ISet<ReplicaSlot>? exclude = null)
    {
        var candidates = new List<ReplicaSlot>(replicas.Count);
        foreach (var r in replicas)
            if (r.InFlight < maxOngoing && !r.Suspect && (exclude is null || !exclude.Contains(r))) candidates.Add(r);
        // When every remaining replica is suspect, try them anyway rather than fail (YARP's "panic" mode).
        if (candidates.Count == 0)
            foreach (var r in replicas)
                if (r.InFlight < maxOngoing && (exclude is null || !exclude.Contains(r))) candidates.Add(r);

        while (candidates.Count > 0)
        {
            ReplicaSlot choice;
            if (candidates.Count == 1) choice = candidates[0];
            else
            {
                var i = random.Next(candidates.Count);
                var j = random.Next(candidates.Count - 1);
                if (j >= i) j++;
                choice = candidates[i].InFlight <= candidates[j].InFlight ? candidates[i] : candidates[j];
            }
            if (choice.TryAcquire(maxOngoing)) return choice;
            candidates.Remove(choice); // lost a race for its last slot
        }
        return null;
    }
}
