using System.Text.Json;
using Microsoft.Extensions.Options;
using ServeAspire.Model;
using ServeAspire.Store;
using StackExchange.Redis;

namespace ServeAspire.Proxy.Forwarding;

/// <summary>
/// Tells the controller that a replica keeps hitting request_timeout_s (an event on the store's event
/// channel, as nodes report exits). Fire and forget: the data path never waits for the store.
/// </summary>
internal sealed partial class UnresponsiveReplicaReporter(IConnectionMultiplexer redis, StoreKeys keys, IOptions<ProxyOptions> options, ILogger<UnresponsiveReplicaReporter> logger)
{
    public const string EventKind = "replica_unresponsive";

    public void Report(ReplicaEndpoint replica, string deployment, int timeouts, double? timeoutS)
    {
        var message = $"{timeouts} requests in a row exceeded request_timeout_s={timeoutS} on proxy {options.Value.Name}";
        Log.Unresponsive(logger, deployment, replica.ReplicaId, replica.NodeId, message);
        _ = PublishAsync(new ClusterEvent(EventKind, replica.NodeId, replica.ReplicaId, message));
    }

    private async Task PublishAsync(ClusterEvent evt)
    {
        try
        {
            await redis.GetSubscriber().PublishAsync(RedisChannel.Literal(keys.EventsChannel), JsonSerializer.Serialize(evt, SerializerOptions.Default));
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            Log.PublishFailed(logger, evt.ReplicaId, ex.Message);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(230, LogLevel.Warning, "Replica {Deployment}#{ReplicaId} on node {NodeId} is unresponsive: {Message}; reporting it to the controller")]
        public static partial void Unresponsive(ILogger logger, string deployment, string replicaId, string nodeId, string message);
        [LoggerMessage(231, LogLevel.Warning, "Could not report unresponsive replica {ReplicaId}: {Error}")]
        public static partial void PublishFailed(ILogger logger, string? replicaId, string error);
    }
}
