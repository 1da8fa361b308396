namespace ServeAspire.Proxy.LoadBalancing;

/// <summary>
/// Ray's PowerOfTwoChoicesRequestRouter: sample two replicas at random, take the one with fewer
/// requests in flight; replicas at <c>max_ongoing_requests</c>, suspect or excluded are not
/// candidates. Per request it reads two slots and allocates nothing; only when two rounds of
/// samples found no candidate (most replicas full, suspect or already tried) does it scan them all.
/// </summary>
internal sealed class PowerOfTwoChoicesPolicy(IRandomSource random)
{
    public const string Name = "PowerOfTwoChoices";
    private const int SampleRounds = 2;

    /// <returns>A replica whose slot was taken, or null when every candidate is full.</returns>
    public ReplicaSlot? TryPick(ReplicaSlot[] replicas, int maxOngoing, HashSet<ReplicaSlot>? exclude = null)
    {
        var n = replicas.Length;
        if (n == 0) return null;
        for (var round = 0; round < SampleRounds; round++)
        {
            var i = random.Next(n);
            var a = replicas[i];
            ReplicaSlot? b = null;
            if (n > 1)
            {
                var j = random.Next(n - 1);
                b = replicas[j >= i ? j + 1 : j];
            }
            var first = IsCandidate(a, maxOngoing, exclude, allowSuspect: false) ? a : null;
            var second = b is not null && IsCandidate(b, maxOngoing, exclude, allowSuspect: false) ? b : null;
            if (first is not null && second is not null && second.InFlight < first.InFlight) (first, second) = (second, first);
            first ??= second;
            if (first is not null && first.TryAcquire(maxOngoing)) return first;
            if (second is not null && second != first && second.TryAcquire(maxOngoing)) return second;
        }
        // When every remaining replica is suspect, try them anyway rather than fail (YARP's "panic" mode).
        return Scan(replicas, maxOngoing, exclude, allowSuspect: false) ?? Scan(replicas, maxOngoing, exclude, allowSuspect: true);
    }

    private static bool IsCandidate(ReplicaSlot slot, int maxOngoing, HashSet<ReplicaSlot>? exclude, bool allowSuspect) =>
        slot.InFlight < maxOngoing && (allowSuspect || !slot.Suspect) && (exclude is null || !exclude.Contains(slot));

    /// <summary>Power of two choices among all candidates, found by rank rather than by building a list.</summary>
    private ReplicaSlot? Scan(ReplicaSlot[] replicas, int maxOngoing, HashSet<ReplicaSlot>? exclude, bool allowSuspect)
    {
        // Bounded: each lost race means another request took a slot, so give up after one try per replica.
        for (var attempt = 0; attempt < replicas.Length; attempt++)
        {
            var count = 0;
            foreach (var r in replicas)
                if (IsCandidate(r, maxOngoing, exclude, allowSuspect)) count++;
            if (count == 0) return null;
            var k1 = random.Next(count);
            var k2 = -1;
            if (count > 1)
            {
                k2 = random.Next(count - 1);
                if (k2 >= k1) k2++;
            }
            ReplicaSlot? x = null, y = null;
            var rank = 0;
            foreach (var r in replicas)
            {
                if (!IsCandidate(r, maxOngoing, exclude, allowSuspect)) continue;
                if (rank == k1) x = r;
                else if (rank == k2) y = r;
                rank++;
            }
            var choice = x is null ? y : y is null || x.InFlight <= y.InFlight ? x : y;
            if (choice is not null && choice.TryAcquire(maxOngoing)) return choice;
        }
        return null;
    }
}
