using ServeAspire.Model;
using ServeAspire.Store;
using StackExchange.Redis;

namespace ServeAspire.ReplicaHost.Replicas;

/// <summary>Where the supervisor announces a replica's exit (the store's event channel): a seam, so its tests need no Redis.</summary>
internal interface IClusterEventPublisher
{
    /// <summary>Publishes <paramref name="evt"/>; returns the error when the store is unreachable (never throws for that).</summary>
    Task<string?> PublishAsync(ClusterEvent evt);
}

internal sealed class RedisClusterEventPublisher(IConnectionMultiplexer redis, StoreKeys keys) : IClusterEventPublisher
{
    public Task<string?> PublishAsync(ClusterEvent evt) => ClusterEvents.PublishAsync(redis, keys, evt);
}
