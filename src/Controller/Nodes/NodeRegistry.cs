using Microsoft.Extensions.Options;
using ServeAspire.Controller.Checkpoints;
using ServeAspire.Controller.Deployments;
using ServeAspire.Controller.Placement;
using ServeAspire.Model;

namespace ServeAspire.Controller.Nodes;

/// <summary>
/// The node agents and whether each is alive (Ray's ClusterNodeInfoCache plus the GCS's node
/// liveness): the one place that decides it. A node is alive when its heartbeat is current OR its
/// own API answers as the registered incarnation (after a store outage heartbeats have lapsed, but
/// that is no reason to kill anything); a refused connection means its process is gone.
/// <para>
/// Listing never holds up a tick: every node is asked concurrently (at most one call per node in
/// flight, each with its own deadline), and the tick waits for the answers at most
/// <see cref="ControllerOptions.NodeObserveBudget"/>. A node that has not answered by then is "no
/// news" this tick (its replicas are neither confirmed nor buried), and its late answer is dropped:
/// a listing older than the tick could miss a replica started since.
/// </para>
/// </summary>
public sealed partial class NodeRegistry(
    IClusterStore store,
    INodeClient nodes,
    NodeSettleGate settle,
    IOptions<ControllerOptions> options,
    TimeProvider time,
    ILogger<NodeRegistry> logger)
{
    private readonly Dictionary<string, Task<NodeListResult>> _inFlight = new(StringComparer.Ordinal);
    private readonly RegistrationJanitor _janitor = new(options.Value.DeadRegistrationRetention);
    private IReadOnlyList<(NodeRegistration Registration, bool Alive)> _registered = [];
    private HashSet<string> _answered = new(StringComparer.Ordinal);

    /// <summary>A new tenure: the settle gate closes again, dead-registration clocks restart, late answers are forgotten.</summary>
    public void Reset(DateTimeOffset now)
    {
        settle.Reset(now);
        _janitor.Reset();
        _inFlight.Clear();
        _answered.Clear();
    }

    /// <summary>Every live node and what it said this tick, with the placement hold while the node set settles.</summary>
    public async Task<ClusterObservation> ObserveAsync(long leaderToken, CancellationToken cancellationToken)
    {
        var registered = await store.GetNodesAsync(cancellationToken);
        _registered = registered;
        var probes = new Task<NodeListResult>?[registered.Count];
        for (var i = 0; i < registered.Count; i++)
        {
            var node = registered[i].Registration;
            var key = Key(node);
            // Still busy with an earlier tick's call: no news this tick. One that finished late is dropped, and asked again.
            if (_inFlight.TryGetValue(key, out var busy) && !busy.IsCompleted) continue;
            probes[i] = _inFlight[key] = ListAsync(node, leaderToken, cancellationToken);
        }
        var started = probes.OfType<Task<NodeListResult>>().ToArray();
        if (started.Length > 0)
        {
            // Late or failed answers are "no news" below; only our own shutdown ends the wait early.
            try { await Task.WhenAll(started).WaitAsync(options.Value.NodeObserveBudget, time, cancellationToken); }
            catch (Exception) when (!cancellationToken.IsCancellationRequested) { }
        }

        var observed = new Dictionary<string, NodeObservation>(StringComparer.Ordinal);
        var answered = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < registered.Count; i++)
        {
            var (node, heartbeat) = registered[i];
            var result = probes[i] is { IsCompletedSuccessfully: true } done ? done.Result : NodeListResult.NoAnswer;
            if (probes[i] is { IsCompleted: true }) _inFlight.Remove(Key(node));
            if (result.Gone)
            {
                if (heartbeat) Log.NodeGone(logger, node.NodeId, node.Address);
                continue;
            }
            if (result.Replicas is not null) answered.Add(node.NodeId);
            if (heartbeat || result.Replicas is not null) observed[node.NodeId] = new NodeObservation(node, result.Replicas);
        }
        _answered = answered;
        // Forget probes of registrations that are gone.
        if (_inFlight.Count > registered.Count)
        {
            var keys = registered.Select(r => Key(r.Registration)).ToHashSet(StringComparer.Ordinal);
            foreach (var stale in _inFlight.Keys.Where(k => !keys.Contains(k)).ToList()) _inFlight.Remove(stale);
        }

        var observation = new ClusterObservation(observed);
        var placeable = observation.PlaceableNodes();
        var wasOpen = settle.IsOpen;
        observation = observation with { FirstPlacementHold = settle.Hold(placeable, time.GetUtcNow()) };
        if (!wasOpen && settle.IsOpen) Log.NodesSettled(logger, placeable.Count, string.Join(", ", placeable));
        return observation;
    }

    /// <summary>Registrations dead for longer than the retention, removed from the store (housekeeping: its own step).</summary>
    public async Task PruneAsync(CancellationToken cancellationToken)
    {
        var all = _registered.Select(n => ("node", n.Registration.NodeId, n.Alive || _answered.Contains(n.Registration.NodeId)));
        foreach (var (kind, id) in _janitor.Due(all, time.GetUtcNow()))
        {
            await store.ForgetRegistrationAsync(kind, id, cancellationToken);
            Log.RegistrationPruned(logger, kind, id);
        }
    }

    private static string Key(NodeRegistration node) => node.NodeId + "/" + node.InstanceId;

    private async Task<NodeListResult> ListAsync(NodeRegistration node, long leaderToken, CancellationToken cancellationToken)
    {
        // Its own deadline, independent of the tick's budget: a hung node ties up one call, never the loop.
        using var deadline = new CancellationTokenSource(options.Value.NodeCallTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        try { return await nodes.ListReplicasAsync(node, leaderToken, linked.Token); }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested) { return NodeListResult.NoAnswer; }
    }

    private static partial class Log
    {
        [LoggerMessage(406, LogLevel.Warning, "Node {NodeId} refuses connections at {Address}: its process is gone")]
        public static partial void NodeGone(ILogger logger, string nodeId, string address);
        [LoggerMessage(410, LogLevel.Information, "Node set settled with {Count} live node(s) ({Nodes}): first placements may go ahead")]
        public static partial void NodesSettled(ILogger logger, int count, string nodes);
        [LoggerMessage(411, LogLevel.Information, "Forgot the {Kind} registration {Id}: dead for longer than the retention")]
        public static partial void RegistrationPruned(ILogger logger, string kind, string id);
    }
}
