using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;
using ServeAspire.Model;
using ServeAspire.ReplicaHost.Replicas;
using ServeAspire.Store;
using StackExchange.Redis;
using IServer = Microsoft.AspNetCore.Hosting.Server.IServer;

namespace ServeAspire.ReplicaHost.Nodes;

/// <summary>
/// Registers the node in the store and keeps its liveness key alive (TTL), so the controller can
/// tell a dead node from a live one. On shutdown it stops its replicas and withdraws the key.
/// </summary>
internal sealed partial class NodeHeartbeatService(
    IOptions<NodeOptions> options,
    NodeIdentity identity,
    IServer server,
    IHostApplicationLifetime lifetime,
    IConnectionMultiplexer redis,
    StoreKeys keys,
    ReplicaSupervisor supervisor,
    TimeProvider time,
    ILogger<NodeHeartbeatService> logger) : BackgroundService
{
    private readonly DateTimeOffset _startedAt = time.GetUtcNow();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // The address is known only once Kestrel has bound its port.
        var started = new TaskCompletionSource();
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
            await started.Task.WaitAsync(stoppingToken);
        identity.Address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("node has no listening address");
        var opts = options.Value;
        Log.NodeStarted(logger, opts.Id, identity.InstanceId, identity.Address);

        var registration = new NodeRegistration(opts.Id, identity.InstanceId, identity.Address, Environment.ProcessId, _startedAt);
        var json = JsonSerializer.Serialize(registration, SerializerOptions.Default);
        using var timer = new PeriodicTimer(opts.HeartbeatInterval, time);
        var failing = false;
        do
        {
            try
            {
                var db = redis.GetDatabase();
                await db.HashSetAsync(keys.Nodes, opts.Id, json);
                await db.StringSetAsync(keys.NodeHeartbeat(opts.Id), identity.InstanceId, opts.HeartbeatTtl);
                if (failing) Log.HeartbeatRestored(logger, opts.Id);
                failing = false;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // Log once per outage; replicas keep serving while the store is away.
                if (!failing) Log.HeartbeatFailed(logger, opts.Id, ex.Message);
                failing = true;
            }
        } while (await WaitTickAsync(timer, stoppingToken));
    }

    private static async Task<bool> WaitTickAsync(PeriodicTimer timer, CancellationToken ct)
    {
        try { return await timer.WaitForNextTickAsync(ct); }
        catch (OperationCanceledException) { return false; }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        Log.NodeStopping(logger, options.Value.Id);
        await supervisor.StopAllAsync(cancellationToken);
        try
        {
            var db = redis.GetDatabase();
            // Withdraw only our own liveness key: a newer incarnation may already have registered.
            var current = await db.StringGetAsync(keys.NodeHeartbeat(options.Value.Id));
            if (current == identity.InstanceId) await db.KeyDeleteAsync(keys.NodeHeartbeat(options.Value.Id));
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException) { }
    }

    private static partial class Log
    {
        [LoggerMessage(120, LogLevel.Information, "Node {NodeId} (instance {InstanceId}) serving its API at {Address}")]
        public static partial void NodeStarted(ILogger logger, string nodeId, string instanceId, string address);

        [LoggerMessage(121, LogLevel.Warning, "Node {NodeId} cannot reach the store: {Error}; replicas keep running")]
        public static partial void HeartbeatFailed(ILogger logger, string nodeId, string error);

        [LoggerMessage(122, LogLevel.Information, "Node {NodeId} reaches the store again")]
        public static partial void HeartbeatRestored(ILogger logger, string nodeId);

        [LoggerMessage(123, LogLevel.Information, "Node {NodeId} stopping: stopping its replicas")]
        public static partial void NodeStopping(ILogger logger, string nodeId);
    }
}
