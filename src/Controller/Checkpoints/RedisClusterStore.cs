using System.Text.Json;
using ServeAspire.Model;
using ServeAspire.Store;
using StackExchange.Redis;

namespace ServeAspire.Controller.Checkpoints;

internal sealed class RedisClusterStore(IConnectionMultiplexer redis, StoreKeys keys) : IClusterStore
{
    private IDatabase Db => redis.GetDatabase();

    public async Task<IReadOnlyList<NodeRegistration>> GetLiveNodesAsync(CancellationToken cancellationToken) =>
        (await GetNodesAsync(cancellationToken)).Where(n => n.Item2).Select(n => n.Item1).ToList();

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
    public Task SaveConfigAsync(string checkpoint, CancellationToken cancellationToken) => Db.StringSetAsync(keys.Config, checkpoint);
    public async Task<string?> LoadStateAsync(CancellationToken cancellationToken) => await Db.StringGetAsync(keys.DeploymentState);
    public Task SaveStateAsync(string checkpoint, CancellationToken cancellationToken) => Db.StringSetAsync(keys.DeploymentState, checkpoint);

    public async Task<RoutingTable?> LoadRoutesAsync(CancellationToken cancellationToken)
    {
        var json = await Db.StringGetAsync(keys.Routes);
        return json.HasValue ? JsonSerializer.Deserialize<RoutingTable>(json.ToString(), SerializerOptions.Default) : null;
    }

    public async Task PublishRoutesAsync(RoutingTable table, CancellationToken cancellationToken)
    {
        await Db.StringSetAsync(keys.Routes, JsonSerializer.Serialize(table, SerializerOptions.Default));
        await redis.GetSubscriber().PublishAsync(RedisChannel.Literal(keys.RoutesChannel), table.Version);
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
}
