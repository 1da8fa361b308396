using Microsoft.Extensions.Options;
using ServeAspire.Controller.Checkpoints;
using ServeAspire.Controller.Nodes;
using ServeAspire.Model;

namespace ServeAspire.Controller.Proxies;

/// <summary>
/// Every registered proxy and its status (Ray's ProxyStateManager and ProxyState): STARTING until its
/// first check, HEALTHY, UNHEALTHY (a failed check, or its heartbeat expired), DRAINING (SIGTERM:
/// healthz turned 503, requests still in flight) and DRAINED (draining with nothing in flight).
/// Checks never block the loop (Ray's pattern): one is started per tick for each live proxy that has
/// none in flight, and read at a later tick. Each status change goes through <see cref="ProxyState.Transition"/>.
/// </summary>
public sealed partial class ProxyStateManager(
    IClusterStore store,
    IProxyProbe probe,
    IOptions<ControllerOptions> options,
    TimeProvider time,
    ILogger<ProxyStateManager> logger)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, ProxyState> _proxies = new(StringComparer.Ordinal);
    private readonly RegistrationJanitor _janitor = new(options.Value.DeadRegistrationRetention);
    private IReadOnlyList<(ProxyRegistration Registration, bool Alive)> _registered = [];

    /// <summary>The status of this proxy incarnation, or null when it was never checked in this tenure.</summary>
    public ProxyStatus? StatusOf(ProxyRegistration proxy)
    {
        lock (_lock)
            return _proxies.TryGetValue(proxy.Name, out var s) && s.InstanceId == proxy.InstanceId ? s.Status : null;
    }

    /// <summary>
    /// The status to show for a registration read from the store: UNHEALTHY when its heartbeat expired,
    /// else what its checks said, else (not checked yet in this tenure) DRAINING or STARTING as it registered.
    /// </summary>
    public ProxyStatus StatusFor(ProxyRegistration proxy, bool alive) =>
        !alive ? ProxyStatus.UNHEALTHY : StatusOf(proxy) ?? (proxy.Draining ? ProxyStatus.DRAINING : ProxyStatus.STARTING);

    /// <summary>A new tenure starts from nothing (statuses are re-learned within a tick or two).</summary>
    public void Reset()
    {
        lock (_lock) _proxies.Clear();
        _janitor.Reset();
    }

    /// <summary>Reads the registrations, folds in finished checks, and starts the due ones.</summary>
    public async Task UpdateAsync(CancellationToken cancellationToken)
    {
        var registered = await store.GetProxiesAsync(cancellationToken);
        _registered = registered;
        lock (_lock)
        {
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (registration, alive) in registered)
            {
                names.Add(registration.Name);
                if (!_proxies.TryGetValue(registration.Name, out var state) || state.InstanceId != registration.InstanceId)
                    _proxies[registration.Name] = state = new ProxyState(registration.Name, registration.InstanceId, logger);
                Update(state, registration, alive, cancellationToken);
            }
            foreach (var gone in _proxies.Keys.Where(n => !names.Contains(n)).ToList()) _proxies.Remove(gone);
        }
    }

    private void Update(ProxyState state, ProxyRegistration registration, bool alive, CancellationToken cancellationToken)
    {
        if (state.InFlight is { IsCompleted: true } done)
        {
            state.InFlight = null;
            var (status, reason) = done.IsCompletedSuccessfully ? done.Result : (ProxyStatus.UNHEALTHY, done.Exception?.GetBaseException().Message);
            // A proxy that announced its drain is never "healthy" again in this incarnation.
            if (registration.Draining && status == ProxyStatus.HEALTHY) status = ProxyStatus.DRAINING;
            state.Transition(status, reason);
        }
        if (!alive)
        {
            state.Transition(ProxyStatus.UNHEALTHY, "heartbeat expired");
            return;
        }
        if (registration.Draining && state.Status is not (ProxyStatus.DRAINING or ProxyStatus.DRAINED))
            state.Transition(ProxyStatus.DRAINING, "the proxy registered as draining");
        state.InFlight ??= probe.CheckAsync(registration.Address, options.Value.ProxyProbeTimeout, cancellationToken);
    }

    /// <summary>Registrations dead for longer than the retention, removed from the store (its own step).</summary>
    public async Task PruneAsync(CancellationToken cancellationToken)
    {
        foreach (var (kind, id) in _janitor.Due(_registered.Select(p => ("proxy", p.Registration.Name, p.Alive)), time.GetUtcNow()))
        {
            await store.ForgetRegistrationAsync(kind, id, cancellationToken);
            Log.RegistrationPruned(logger, kind, id);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(411, LogLevel.Information, "Forgot the {Kind} registration {Id}: dead for longer than the retention")]
        public static partial void RegistrationPruned(ILogger logger, string kind, string id);
    }
}

/// <summary>One proxy incarnation's status machine (Ray's ProxyState).</summary>
public sealed partial class ProxyState(string name, string instanceId, ILogger logger)
{
    public string Name { get; } = name;
    public string InstanceId { get; } = instanceId;
    public ProxyStatus Status { get; private set; } = ProxyStatus.STARTING;
    internal Task<(ProxyStatus Status, string? Reason)>? InFlight { get; set; }

    /// <summary>
    /// Moves to <paramref name="to"/> when legal: a draining proxy never turns HEALTHY again (only a new
    /// incarnation, with a new state, does); DRAINED only follows DRAINING; UNHEALTHY can follow anything.
    /// </summary>
    public bool Transition(ProxyStatus to, string? reason)
    {
        if (to == Status) return true;
        if (!IsLegal(Status, to))
        {
            Log.IllegalTransition(logger, Name, Status, to);
            return false;
        }
        Log.Transitioned(logger, Name, InstanceId, Status, to, reason ?? "");
        Status = to;
        return true;
    }

    public static bool IsLegal(ProxyStatus from, ProxyStatus to) => (from, to) switch
    {
        (_, ProxyStatus.UNHEALTHY) => true,
        (ProxyStatus.STARTING or ProxyStatus.HEALTHY or ProxyStatus.UNHEALTHY, ProxyStatus.HEALTHY) => true,
        (not ProxyStatus.DRAINED, ProxyStatus.DRAINING) => true,
        (ProxyStatus.DRAINING, ProxyStatus.DRAINED) => true,
        _ => false,
    };

    private static partial class Log
    {
        [LoggerMessage(440, LogLevel.Information, "Proxy {Proxy} ({InstanceId}): {From} -> {To} {Reason}")]
        public static partial void Transitioned(ILogger logger, string proxy, string instanceId, ProxyStatus from, ProxyStatus to, string reason);
        [LoggerMessage(441, LogLevel.Debug, "Proxy {Proxy}: ignored an illegal status change {From} -> {To}")]
        public static partial void IllegalTransition(ILogger logger, string proxy, ProxyStatus from, ProxyStatus to);
    }
}
