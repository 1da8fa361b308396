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
    public void Report(ReplicaEndpoint replica, string deployment, int timeouts, double? timeoutS)
    {
        var message = $"{timeouts} requests in a row exceeded request_timeout_s={timeoutS} on proxy {options.Value.Name}";
        Log.Unresponsive(logger, deployment, replica.ReplicaId, replica.NodeId, message);
        _ = PublishAsync(new ClusterEvent(ClusterEvents.ReplicaUnresponsive, replica.NodeId, replica.ReplicaId, message));
    }

    private async Task PublishAsync(ClusterEvent evt)
    {
        if (await ClusterEvents.PublishAsync(redis, keys, evt) is { } error) Log.PublishFailed(logger, evt.ReplicaId, error);
    }

    private static partial class Log
    {
        [LoggerMessage(230, LogLevel.Warning, "Replica {Deployment}#{ReplicaId} on node {NodeId} is unresponsive: {Message}; reporting it to the controller")]
        public static partial void Unresponsive(ILogger logger, string deployment, string replicaId, string nodeId, string message);
        [LoggerMessage(231, LogLevel.Warning, "Could not report unresponsive replica {ReplicaId}: {Error}")]
        public static partial void PublishFailed(ILogger logger, string? replicaId, string error);
    }
}
