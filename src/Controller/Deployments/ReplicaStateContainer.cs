using ServeAspire.Model;

namespace ServeAspire.Controller.Deployments;

/// <summary>
/// One deployment's replicas grouped by state (Ray's ReplicaStateContainer), indexed by id, with
/// every state change in <see cref="Transition"/>: O(1) lookups, counts and moves, so a deployment
/// of a thousand replicas costs the same per replica as one of six. Insertion order is kept within
/// each state (older replicas first), so what is listed and chosen stays deterministic.
/// </summary>
public sealed partial class ReplicaStateContainer(string application, string deployment, Action onChange, ILogger logger)
{
    private static readonly ReplicaState[] States = Enum.GetValues<ReplicaState>();
    private static readonly ReplicaState[] AliveStates = [ReplicaState.STARTING, ReplicaState.UPDATING, ReplicaState.RECOVERING, ReplicaState.RUNNING];

    private readonly LinkedList<ReplicaRecord>[] _byState = States.Select(_ => new LinkedList<ReplicaRecord>()).ToArray();
    private readonly Dictionary<string, LinkedListNode<ReplicaRecord>> _byId = new(StringComparer.Ordinal);

    public int Count => _byId.Count;

    public int CountIn(ReplicaState state) => _byState[(int)state].Count;

    public int AliveCount => AliveStates.Sum(CountIn);

    /// <summary>The replicas in <paramref name="state"/>, oldest first.</summary>
    public IEnumerable<ReplicaRecord> In(ReplicaState state) => _byState[(int)state];

    public IEnumerable<ReplicaRecord> Alive => AliveStates.SelectMany(In);

    public IEnumerable<ReplicaRecord> All => States.SelectMany(In);

    public bool TryGet(string replicaId, out ReplicaRecord record)
    {
        if (_byId.TryGetValue(replicaId, out var node))
        {
            record = node.Value;
            return true;
        }
        record = null!;
        return false;
    }

    public bool Contains(string replicaId) => _byId.ContainsKey(replicaId);

    /// <summary>Adds a replica in its current state (a new placement, an adoption, a checkpoint restore).</summary>
    public void Add(ReplicaRecord record)
    {
        if (_byId.ContainsKey(record.ReplicaId)) throw new InvalidOperationException($"replica {record.ReplicaId} is already in {application}/{deployment}");
        _byId[record.ReplicaId] = _byState[(int)record.State].AddLast(record);
        onChange();
    }

    /// <summary>Forgets a replica (it died or finished stopping).</summary>
    public bool Remove(ReplicaRecord record)
    {
        if (!_byId.Remove(record.ReplicaId, out var node)) return false;
        _byState[(int)record.State].Remove(node);
        onChange();
        return true;
    }

    /// <summary>
    /// Moves a replica to <paramref name="to"/> if the move is legal (see <see cref="IsLegal"/>);
    /// an illegal move is refused and logged, and the replica stays where it was.
    /// </summary>
    public bool Transition(ReplicaRecord record, ReplicaState to)
    {
        var from = record.State;
        if (from == to) return true;
        if (!_byId.TryGetValue(record.ReplicaId, out var node) || !IsLegal(from, to))
        {
            Log.IllegalTransition(logger, application, deployment, record.ReplicaId, from, to);
            return false;
        }
        _byState[(int)from].Remove(node);
        record.State = to;
        _byState[(int)to].AddLast(node);
        Log.Transitioned(logger, application, deployment, record.ReplicaId, record.NodeId, from, to);
        onChange();
        return true;
    }

    /// <summary>
    /// Ray's replica lifecycle, reduced to the states this controller produces: a replica starts (or
    /// is recovered, or updated), runs, and stops; nothing comes back from STOPPING, and death (from
    /// any state) is <see cref="Remove"/>.
    /// </summary>
    public static bool IsLegal(ReplicaState from, ReplicaState to) => (from, to) switch
    {
        (ReplicaState.STARTING or ReplicaState.RECOVERING or ReplicaState.UPDATING or ReplicaState.PENDING_MIGRATION, ReplicaState.RUNNING) => true,
        (ReplicaState.RUNNING, ReplicaState.UPDATING or ReplicaState.PENDING_MIGRATION) => true,
        // Its node restarted its process in place (the kill API with restart): it serves again once ready.
        (ReplicaState.RUNNING or ReplicaState.UPDATING or ReplicaState.RECOVERING, ReplicaState.STARTING) => true,
        (not ReplicaState.STOPPING, ReplicaState.STOPPING) => true,
        _ => false,
    };

    private static partial class Log
    {
        [LoggerMessage(330, LogLevel.Debug, "Replica {Application}/{Deployment}#{ReplicaId} on node {NodeId}: {From} -> {To}")]
        public static partial void Transitioned(ILogger logger, string application, string deployment, string replicaId, string nodeId, ReplicaState from, ReplicaState to);
        [LoggerMessage(331, LogLevel.Warning, "Refused an illegal replica transition {Application}/{Deployment}#{ReplicaId}: {From} -> {To}")]
        public static partial void IllegalTransition(ILogger logger, string application, string deployment, string replicaId, ReplicaState from, ReplicaState to);
    }
}
