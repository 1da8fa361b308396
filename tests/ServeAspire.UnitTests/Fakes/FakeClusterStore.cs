using ServeAspire.Controller.Checkpoints;
using ServeAspire.Controller.Leadership;
using ServeAspire.Model;

namespace ServeAspire.UnitTests.Fakes;

/// <summary>An in-memory <see cref="IClusterStore"/> for the managers' tests; each part can be made to fail like an unreachable Redis.</summary>
internal sealed class FakeClusterStore : IClusterStore
{
    public List<(NodeRegistration Registration, bool Alive)> Nodes { get; } = [];
    public List<(ProxyRegistration Registration, bool Alive)> Proxies { get; } = [];
    public List<string> Forgotten { get; } = [];
    public string? State { get; private set; }
    public int StateSaves { get; private set; }
    public RoutingTable? Routes { get; set; }
    public List<(long Version, IReadOnlyCollection<string> Removed)> RoutePublishes { get; } = [];
    public long Token { get; set; } = 1;
    public bool ProxiesFail { get; set; }
    public bool NodesFail { get; set; }

    private static TimeoutException Down() => new("fake store is down (as a Redis timeout)");

    public Task<IReadOnlyList<(NodeRegistration Registration, bool Alive)>> GetNodesAsync(CancellationToken cancellationToken) =>
        NodesFail ? throw Down() : Task.FromResult<IReadOnlyList<(NodeRegistration, bool)>>(Nodes.ToList());

    public Task<IReadOnlyList<(ProxyRegistration Registration, bool Alive)>> GetProxiesAsync(CancellationToken cancellationToken) =>
        ProxiesFail ? throw Down() : Task.FromResult<IReadOnlyList<(ProxyRegistration, bool)>>(Proxies.ToList());

    public List<OngoingRequestsReport> Ongoing { get; } = [];

    public Task<IReadOnlyList<OngoingRequestsReport>> GetOngoingRequestsAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<OngoingRequestsReport>>(Ongoing.ToList());

    public Task ForgetRegistrationAsync(string kind, string id, CancellationToken cancellationToken)
    {
        Forgotten.Add($"{kind}:{id}");
        return Task.CompletedTask;
    }

    public Task<string?> LoadConfigAsync(CancellationToken cancellationToken) => Task.FromResult<string?>(null);
    public Task SaveConfigAsync(string checkpoint, long token, CancellationToken cancellationToken) => Fenced(token);
    public Task<string?> LoadStateAsync(CancellationToken cancellationToken) => Task.FromResult(State);

    public async Task SaveStateAsync(string checkpoint, long token, CancellationToken cancellationToken)
    {
        await Fenced(token);
        State = checkpoint;
        StateSaves++;
    }

    public Task<RoutingTable?> LoadRoutesAsync(CancellationToken cancellationToken) => Task.FromResult(Routes);

    public async Task PublishRoutesAsync(RoutingTable table, IReadOnlyCollection<string> removedKeys, long token, CancellationToken cancellationToken)
    {
        await Fenced(token);
        Routes = table;
        RoutePublishes.Add((table.Version, removedKeys));
    }

    public Task<long> CurrentTokenAsync(CancellationToken cancellationToken) => Task.FromResult(Token);
    public Task<bool> IsTokenCurrentAsync(long token, CancellationToken cancellationToken) => Task.FromResult(token == Token);
    public Task SubscribeEventsAsync(Action<ClusterEvent> onEvent) => Task.CompletedTask;
    // The lease, modelled as the Lua scripts do it, timed on Clock (a FakeTimeProvider in the election tests).
    public TimeProvider Clock { get; init; } = TimeProvider.System;
    /// <summary>Lease calls fail as if Redis were unreachable.</summary>
    public bool LeaseFails { get; set; }
    /// <summary>Lease writes reach the primary, but no replica acknowledges them (WAIT times out).</summary>
    public bool AcksFail { get; set; }
    private static readonly StoreDurability OneReplica = new(1, TimeSpan.FromMilliseconds(200));
    private (LeaseRecord Record, long ExpiresAt)? _lease;

    private LeaseRecord? LiveLease()
    {
        if (_lease is { } l && Clock.GetTimestamp() >= l.ExpiresAt) _lease = null;
        return _lease?.Record;
    }

    private long ExpiryAfter(TimeSpan ttl) => Clock.GetTimestamp() + (long)(ttl.TotalSeconds * Clock.TimestampFrequency);

    public Task<long> AcquireLeaseAsync(string holder, string address, TimeSpan ttl, CancellationToken cancellationToken)
    {
        if (LeaseFails) throw Down();
        if (LiveLease() is { } cur)
        {
            if (cur.Holder != holder) return Task.FromResult(-1L);
            _lease = (cur, ExpiryAfter(ttl));
            return AcksFail ? throw new ReplicaAckTimeoutException("the lease", 0, OneReplica) : Task.FromResult(cur.Token);
        }
        Token++;
        _lease = (new LeaseRecord(holder, address, Token), ExpiryAfter(ttl));
        return AcksFail ? throw new ReplicaAckTimeoutException("the lease", 0, OneReplica) : Task.FromResult(Token);
    }

    public Task<bool> RenewLeaseAsync(string holder, long token, TimeSpan ttl, CancellationToken cancellationToken)
    {
        if (LeaseFails) throw Down();
        if (LiveLease() is not { } cur || cur.Holder != holder || cur.Token != token) return Task.FromResult(false);
        _lease = (cur, ExpiryAfter(ttl));
        return AcksFail ? throw new ReplicaAckTimeoutException("the lease renewal", 0, OneReplica) : Task.FromResult(true);
    }

    public Task ReleaseLeaseAsync(string holder, CancellationToken cancellationToken)
    {
        if (LiveLease()?.Holder == holder) _lease = null;
        return Task.CompletedTask;
    }

    public Task<LeaseView?> GetLeaseAsync(CancellationToken cancellationToken)
    {
        if (LeaseFails) throw Down();
        return Task.FromResult(LiveLease() is { } cur ? new LeaseView(cur, Clock.GetElapsedTime(Clock.GetTimestamp(), _lease!.Value.ExpiresAt)) : null);
    }

    private Task Fenced(long token) => token == Token ? Task.CompletedTask : throw new FencedException(token);
}
