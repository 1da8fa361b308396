namespace ServeAspire.Controller.Placement;

/// <summary>
/// Holds a deployment's first placement in a tenure until the live-node set has settled, so a fresh
/// deployment is spread over every node the cluster was started with rather than over whichever
/// registered first (running replicas are never moved afterwards). It opens for the rest of the tenure
/// when <c>ExpectedNodes</c> nodes are live, or (no expected count) when the set stayed unchanged for
/// <c>NodeSettleWindow</c>; after <c>NodeSettleTimeout</c> it opens anyway, so a dead node cannot stop
/// a deploy. Pure: the caller passes the clock.
/// </summary>
public sealed class NodeSettleGate(int expectedNodes, TimeSpan timeout, TimeSpan window)
{
    private DateTimeOffset _tenureStart;
    private DateTimeOffset _setSince;
    private string _lastSet = "";
    private bool _open;

    public bool IsOpen => _open;

    /// <summary>A new tenure: closed again, the clock starts now.</summary>
    public void Reset(DateTimeOffset now)
    {
        _tenureStart = _setSince = now;
        _lastSet = "";
        _open = false;
    }

    /// <summary>Null when placement may go ahead; otherwise why it waits (shown in the deployment's status).</summary>
    /// <param name="liveNodes">Nodes that answered this tick and accept replicas.</param>
    public string? Hold(IReadOnlyCollection<string> liveNodes, DateTimeOffset now)
    {
        if (_open) return null;
        var set = string.Join(',', liveNodes.Order(StringComparer.Ordinal));
        if (set != _lastSet)
        {
            _lastSet = set;
            _setSince = now;
        }
        var settled = expectedNodes > 0
            ? liveNodes.Count >= expectedNodes
            : liveNodes.Count > 0 && now - _setSince >= window;
        if (settled || now - _tenureStart >= timeout)
        {
            _open = true;
            return null;
        }
        var left = timeout - (now - _tenureStart);
        return expectedNodes > 0
            ? $"waiting for nodes to register: {liveNodes.Count} of {expectedNodes} live (placing on the live ones in at most {left.TotalSeconds:F0} s)"
            : $"waiting for the set of live nodes to settle: {liveNodes.Count} live (placing in at most {left.TotalSeconds:F0} s)";
    }
}
