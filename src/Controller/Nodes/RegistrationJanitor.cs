namespace ServeAspire.Controller.Nodes;

/// <summary>
/// Decides when a dead node or proxy registration is dropped from the store: after it has been seen
/// dead for <c>DeadRegistrationRetention</c> (listed as DEAD in the State API until then). Without
/// it, every pod name Kubernetes ever gave a node or proxy would stay in Redis forever. The clock
/// starts when this leader first sees it dead, so a failover only delays pruning. Pure.
/// </summary>
public sealed class RegistrationJanitor(TimeSpan retention)
{
    private readonly Dictionary<(string Kind, string Id), DateTimeOffset> _deadSince = [];

    /// <summary>The registrations due for removal now, given every registration and whether it is alive.</summary>
    public IReadOnlyList<(string Kind, string Id)> Due(IEnumerable<(string Kind, string Id, bool Alive)> registrations, DateTimeOffset now)
    {
        var seen = new HashSet<(string, string)>();
        var due = new List<(string, string)>();
        foreach (var (kind, id, alive) in registrations)
        {
            var key = (kind, id);
            seen.Add(key);
            if (alive)
            {
                _deadSince.Remove(key);
                continue;
            }
            if (!_deadSince.TryGetValue(key, out var since)) _deadSince[key] = since = now;
            if (now - since >= retention) due.Add(key);
        }
        foreach (var gone in _deadSince.Keys.Where(k => !seen.Contains(k)).ToList()) _deadSince.Remove(gone);
        return due;
    }

    /// <summary>A new tenure starts its clocks again.</summary>
    public void Reset() => _deadSince.Clear();
}
