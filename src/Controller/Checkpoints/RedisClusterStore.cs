using System.Text.Json;
using ServeAspire.Controller.Leadership;
using ServeAspire.Model;
using ServeAspire.Store;
using StackExchange.Redis;

namespace ServeAspire.Controller.Checkpoints;

/// <param name="durability">How many replicas must acknowledge the lease, the counter and the config (WAIT); none when null.</param>
internal sealed class RedisClusterStore(IConnectionMultiplexer redis, StoreKeys keys, TimeProvider time, StoreDurability? durability = null) : IClusterStore
{
    private readonly StoreDurability _durability = durability ?? StoreDurability.None;

    // Lease record: {"holder","address","token"}; the fencing counter only grows (INCR per new tenure),
    // and is floored by the acquirer's clock in milliseconds: if Redis loses its data the counter does
    // not restart at 1, so nodes (which refuse tokens older than the newest they saw) still accept the
    // new leader. Lua numbers are doubles: exact for integers up to 2^53, ms timestamps are ~2^41.
    private const string AcquireScript = """
        local cur = redis.call('GET', KEYS[1])
        if cur then
          local rec = cjson.decode(cur)
          if rec.holder == ARGV[1] then
            redis.call('PEXPIRE', KEYS[1], ARGV[3])
            return rec.token
          end
          return -1
        end
        local token = redis.call('INCR', KEYS[2])
        local floor = tonumber(ARGV[4])
        if token < floor then
          redis.call('SET', KEYS[2], ARGV[4])
          token = floor
        end
        redis.call('SET', KEYS[1], cjson.encode({holder=ARGV[1], address=ARGV[2], token=token}), 'PX', ARGV[3])
        return token
        """;

    private const string RenewScript = """
        local cur = redis.call('GET', KEYS[1])
        if not cur then return 0 end
        local rec = cjson.decode(cur)
        if rec.holder ~= ARGV[1] or tonumber(rec.token) ~= tonumber(ARGV[2]) then return 0 end
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        return 1
        """;

    private const string ReleaseScript = """
        local cur = redis.call('GET', KEYS[1])
        if cur and cjson.decode(cur).holder == ARGV[1] then redis.call('DEL', KEYS[1]) end
        return 1
        """;

    // The record and its remaining time in one step, so a standby can wake when the lease would expire.
    private const string ReadLeaseScript = """
        local cur = redis.call('GET', KEYS[1])
        if not cur then return false end
        return {cur, redis.call('PTTL', KEYS[1])}
        """;

    // A fenced write: only the holder of the newest token may write.
    private const string FencedSetScript = """
        if tonumber(redis.call('GET', KEYS[1]) or '0') ~= tonumber(ARGV[1]) then return 0 end
        redis.call('SET', KEYS[2], ARGV[2])
        return 1
        """;

    // A fenced routing update: the index, the changed entries (ARGV[5] pairs from ARGV[6]) and the
    // removed ones (the rest) in one step, so a proxy never sees an index whose entries are missing.
    private const string FencedRoutesScript = """
        if tonumber(redis.call('GET', KEYS[1]) or '0') ~= tonumber(ARGV[1]) then return 0 end
        redis.call('SET', KEYS[2], ARGV[2])
        local n = tonumber(ARGV[5])
        for i = 0, n - 1 do redis.call('HSET', KEYS[3], ARGV[6 + 2 * i], ARGV[7 + 2 * i]) end
        for i = 6 + 2 * n, #ARGV do redis.call('HDEL', KEYS[3], ARGV[i]) end
        redis.call('PUBLISH', ARGV[3], ARGV[4])
        return 1
        """;

    // Only while the heartbeat key is absent: a node or proxy that came back keeps its registration.
    private const string ForgetScript = """
        if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
        return redis.call('HDEL', KEYS[1], ARGV[1])
        """;

    private IDatabase Db => redis.GetDatabase();

    public async Task ForgetRegistrationAsync(string kind, string id, CancellationToken cancellationToken)
    {
        switch (kind)
        {
            case "node":
                await Db.ScriptEvaluateAsync(ForgetScript, [keys.Nodes, keys.NodeHeartbeat(id)], [id]);
                break;
            case "proxy":
                // Its last ongoing-requests report goes with it (the autoscaler ignores it by age anyway).
                if ((long)await Db.ScriptEvaluateAsync(ForgetScript, [keys.Proxies, keys.ProxyHeartbeat(id)], [id]) == 1)
                    await Db.HashDeleteAsync(keys.OngoingRequests, id);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "node or proxy");
        }
    }

    public async Task<IReadOnlyList<OngoingRequestsReport>> GetOngoingRequestsAsync(CancellationToken cancellationToken)
    {
        var entries = await Db.HashGetAllAsync(keys.OngoingRequests);
        var reports = new List<OngoingRequestsReport>(entries.Length);
        foreach (var e in entries)
        {
            try
            {
                if (JsonSerializer.Deserialize<OngoingRequestsReport>(e.Value.ToString(), SerializerOptions.Default) is { } r) reports.Add(r);
            }
            catch (JsonException) { } // a malformed report is no report
        }
        return reports;
    }

    public async Task<IReadOnlyList<(NodeRegistration, bool)>> GetNodesAsync(CancellationToken cancellationToken)
    {
        var entries = await Db.HashGetAllAsync(keys.Nodes);
        var nodes = entries.Select(e => JsonSerializer.Deserialize<NodeRegistration>(e.Value.ToString(), SerializerOptions.Default)!).ToList();
        var alive = await Task.WhenAll(nodes.Select(n => Db.StringGetAsync(keys.NodeHeartbeat(n.NodeId))));
        // Alive only if the key names this incarnation: a dead node's registration must not borrow its successor's heartbeat.
        return nodes.Select((n, i) => (n, alive[i].HasValue && alive[i] == n.InstanceId)).ToList();
    }

    public async Task<IReadOnlyList<(ProxyRegistration, bool)>> GetProxiesAsync(CancellationToken cancellationToken)
    {
        var entries = await Db.HashGetAllAsync(keys.Proxies);
        var proxies = entries.Select(e => JsonSerializer.Deserialize<ProxyRegistration>(e.Value.ToString(), SerializerOptions.Default)!).ToList();
        var alive = await Task.WhenAll(proxies.Select(p => Db.StringGetAsync(keys.ProxyHeartbeat(p.Name))));
        return proxies.Select((p, i) => (p, alive[i].HasValue && alive[i] == p.InstanceId)).ToList();
    }

    public async Task<string?> LoadConfigAsync(CancellationToken cancellationToken) => await Db.StringGetAsync(keys.Config);
    public async Task SaveConfigAsync(string checkpoint, long token, CancellationToken cancellationToken)
    {
        // A config the API answered 200 for must survive a failover: it waits for the replicas too.
        await FencedSetAsync(keys.Config, checkpoint, token);
        await WaitForReplicasAsync("the config");
    }
    public async Task<string?> LoadStateAsync(CancellationToken cancellationToken) => await Db.StringGetAsync(keys.DeploymentState);
    public Task SaveStateAsync(string checkpoint, long token, CancellationToken cancellationToken) => FencedSetAsync(keys.DeploymentState, checkpoint, token);

    public Task<RoutingTable?> LoadRoutesAsync(CancellationToken cancellationToken) => RoutingTableReader.ReadAsync(Db, keys);

    public async Task PublishRoutesAsync(RoutingTable table, IReadOnlyCollection<string> removedKeys, long token, CancellationToken cancellationToken)
    {
        var changed = table.Routes.Where(r => table.EntryVersions.GetValueOrDefault(r.Key, table.Version) == table.Version).ToList();
        var args = new List<RedisValue>(5 + 2 * changed.Count + removedKeys.Count)
        {
            token, JsonSerializer.Serialize(table.ToIndex(), SerializerOptions.Default), keys.RoutesChannel,
            table.Version.ToString(System.Globalization.CultureInfo.InvariantCulture), changed.Count,
        };
        foreach (var route in changed)
        {
            args.Add(route.Key);
            args.Add(JsonSerializer.Serialize(route, SerializerOptions.Default));
        }
        foreach (var key in removedKeys) args.Add(key);
        var ok = (long)await Db.ScriptEvaluateAsync(FencedRoutesScript, [keys.FencingCounter, keys.RoutesIndex, keys.RouteEntries], args.ToArray());
        if (ok != 1) throw new FencedException(token);
    }

    public async Task<long> CurrentTokenAsync(CancellationToken cancellationToken)
    {
        var current = await Db.StringGetAsync(keys.FencingCounter);
        return current.HasValue ? (long)current : 0;
    }

    public async Task<bool> IsTokenCurrentAsync(long token, CancellationToken cancellationToken)
    {
        var current = await Db.StringGetAsync(keys.FencingCounter);
        return current.HasValue && (long)current == token;
    }

    private async Task FencedSetAsync(string key, string value, long token)
    {
        var ok = (long)await Db.ScriptEvaluateAsync(FencedSetScript, [keys.FencingCounter, key], [token, value]);
        if (ok != 1) throw new FencedException(token);
    }

    public Task SubscribeEventsAsync(Action<ClusterEvent> onEvent) =>
        redis.GetSubscriber().SubscribeAsync(RedisChannel.Literal(keys.EventsChannel), (_, message) =>
        {
            try
            {
                if (JsonSerializer.Deserialize<ClusterEvent>(message.ToString(), SerializerOptions.Default) is { } evt) onEvent(evt);
            }
            catch (JsonException) { }
        });

    public async Task<long> AcquireLeaseAsync(string holder, string address, TimeSpan ttl, CancellationToken cancellationToken)
    {
        var token = (long)await Db.ScriptEvaluateAsync(AcquireScript, [keys.LeaderLease, keys.FencingCounter],
            [holder, address, (long)ttl.TotalMilliseconds, time.GetUtcNow().ToUnixTimeMilliseconds()]);
        // The lease and the counter's new value must be on a replica before this tenure may act: else a
        // failover to a replica that lagged could give the same token to another instance.
        if (token > 0) await WaitForReplicasAsync("the lease and fencing token");
        return token;
    }

    public async Task<bool> RenewLeaseAsync(string holder, long token, TimeSpan ttl, CancellationToken cancellationToken)
    {
        if ((long)await Db.ScriptEvaluateAsync(RenewScript, [keys.LeaderLease], [holder, token, (long)ttl.TotalMilliseconds]) != 1) return false;
        // An extension only a dead primary knew of would let a standby take the lease while we still trust it.
        await WaitForReplicasAsync("the lease renewal");
        return true;
    }

    /// <summary>
    /// WAIT for the configured replicas to acknowledge this connection's writes so far (StackExchange.Redis sends
    /// every command to the primary over one connection, so the script just run is among them).
    /// </summary>
    /// <exception cref="ReplicaAckTimeoutException">fewer acknowledged in time.</exception>
    private async Task WaitForReplicasAsync(string what)
    {
        if (_durability.Replicas <= 0) return;
        var acked = (long)await Db.ExecuteAsync("WAIT", _durability.Replicas, (long)_durability.Timeout.TotalMilliseconds);
        if (acked < _durability.Replicas) throw new ReplicaAckTimeoutException(what, acked, _durability);
    }

    public Task ReleaseLeaseAsync(string holder, CancellationToken cancellationToken) =>
        Db.ScriptEvaluateAsync(ReleaseScript, [keys.LeaderLease], [holder]);

    public async Task<LeaseView?> GetLeaseAsync(CancellationToken cancellationToken)
    {
        var result = await Db.ScriptEvaluateAsync(ReadLeaseScript, [keys.LeaderLease]);
        if (result.IsNull) return null;
        var parts = (RedisResult[])result!;
        var record = JsonSerializer.Deserialize<LeaseRecord>(parts[0].ToString(), SerializerOptions.Default)!;
        var pttl = (long)parts[1];
        // PTTL -1: a key without expiry (never written so by these scripts): no expiry to wake for.
        return new LeaseView(record, pttl >= 0 ? TimeSpan.FromMilliseconds(pttl) : null);
    }
}
