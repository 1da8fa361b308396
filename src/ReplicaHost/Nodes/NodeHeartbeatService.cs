using ServeAspire.Runtime;
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
    ILogger<NodeHeartbeatService> logger) : BackgroundService, IHostedLifecycleService
{
    private readonly DateTimeOffset _startedAt = time.GetUtcNow();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // The address is known only once Kestrel has bound its port.
        var started = new TaskCompletionSource();
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
            await started.Task.WaitAsync(stoppingToken);
        var opts = options.Value;
        identity.Address = AdvertisedAddress.Resolve(server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("node has no listening address"), opts.AdvertisedHost);
        Log.NodeStarted(logger, opts.Id, identity.InstanceId, identity.Address);

        using var timer = new PeriodicTimer(opts.HeartbeatInterval, time);
        var failing = false;
        do
        {
            try
            {
                await RegisterAsync();
                if (failing) Log.HeartbeatRestored(logger, opts.Id);
                failing = false;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // Log once per outage; replicas keep serving while the store is away.
                if (!failing) Log.HeartbeatFailed(logger, opts.Id, ex.Message);
                failing = true;
            }
        } while (await timer.WaitTickAsync(stoppingToken));
    }


    private async Task RegisterAsync()
    {
        var opts = options.Value;
        var registration = new NodeRegistration(opts.Id, identity.InstanceId, identity.Address!, Environment.ProcessId, _startedAt, identity.Draining, opts.Capacity);
        var db = redis.GetDatabase();
        await db.HashSetAsync(keys.Nodes, opts.Id, JsonSerializer.Serialize(registration, SerializerOptions.Default));
        await db.StringSetAsync(keys.NodeHeartbeat(opts.Id), identity.InstanceId, opts.HeartbeatTtl);
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// SIGTERM drains: the node announces it, the controller moves its replicas out of the routing table
    /// and stops them gracefully (placing replacements elsewhere). This runs in the host's "stopping"
    /// phase, before Kestrel stops, because the controller drains the node through its API.
    /// </summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        identity.Draining = true;
        Log.NodeStopping(logger, options.Value.Id);
        if (identity.Address is not null)
        {
            try
            {
                await RegisterAsync();
                using var drain = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                drain.CancelAfter(options.Value.DrainTimeout);
                // Only a leading controller can move replicas away: without one (whole cluster stopping), don't wait.
                while (supervisor.AliveCount > 0 && !drain.IsCancellationRequested && await redis.GetDatabase().KeyExistsAsync(keys.LeaderLease))
                {
                    await RegisterAsync(); // keep the heartbeat while draining
                    try { await Task.Delay(TimeSpan.FromMilliseconds(250), time, drain.Token); } catch (OperationCanceledException) { }
                }
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
            {
                Log.HeartbeatFailed(logger, options.Value.Id, ex.Message); // no controller to hand over to: stop them ourselves
            }
        }
    }

    /// <summary>Whatever the drain left (no leading controller, or its timeout) is stopped here.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
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

        [LoggerMessage(123, LogLevel.Information, "Node {NodeId} stopping: draining its replicas")]
        public static partial void NodeStopping(ILogger logger, string nodeId);
    }
}
