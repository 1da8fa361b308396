using System.Text.Json;
using ServeAspire.Model;
using StackExchange.Redis;

namespace ServeAspire.Store;

/// <summary>
/// The store's event channel (node and proxy → controller): the event kinds, and the one way to
/// publish. Events only make the controller faster: it sees the same facts at its next poll.
/// </summary>
public static class ClusterEvents
{
    /// <summary>A node saw a replica process exit.</summary>
    public const string ReplicaExited = "replica_exited";

    /// <summary>A proxy saw requests to a replica hit request_timeout_s again and again.</summary>
    public const string ReplicaUnresponsive = "replica_unresponsive";

    /// <summary>Publishes <paramref name="evt"/>; returns the error message when the store is unreachable (never throws for that).</summary>
    public static async Task<string?> PublishAsync(IConnectionMultiplexer redis, StoreKeys keys, ClusterEvent evt)
    {
        try
        {
            await redis.GetSubscriber().PublishAsync(RedisChannel.Literal(keys.EventsChannel), JsonSerializer.Serialize(evt, SharedJson.Web.ClusterEvent));
            return null;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            return ex.Message;
        }
    }
}
