using System.Globalization;
using ServeAspire.Store;
using StackExchange.Redis;

namespace ServeAspire.Controller.Checkpoints;

/// <summary>
/// How many replicas must acknowledge the lease, the fencing counter and the config before the controller
/// counts them written (Redis <c>WAIT</c>). Redis replicates asynchronously: without this a Sentinel failover
/// to a replica that lagged could lose a lease or a token already handed out, and hand it out again.
/// <list type="bullet">
/// <item><c>Store:ReplicaAcks</c> (default 1 for a <c>sentinel://</c> address, 0 otherwise): 0 turns the wait
/// off (a single Redis has no replica to wait for; its safety across restarts rests on AOF and on the
/// clock-floored counter).</item>
/// <item><c>Store:ReplicaAckTimeout</c> (default 200 ms, below the lease's renew interval): a write not
/// acknowledged in time counts as failed: an acquire does not lead, a renewal does not extend our view of
/// the lease, a config PUT answers 503.</item>
/// </list>
/// </summary>
public sealed record StoreDurability(int Replicas, TimeSpan Timeout)
{
    public const string ReplicasKey = "Store:ReplicaAcks";
    public const string TimeoutKey = "Store:ReplicaAckTimeout";
    public static StoreDurability None { get; } = new(0, TimeSpan.FromMilliseconds(200));

    public static StoreDurability From(Microsoft.Extensions.Configuration.IConfiguration configuration, StoreAddress address)
    {
        var replicas = address.HasReplicas ? 1 : 0;
        if (configuration[ReplicasKey] is { Length: > 0 } r)
            replicas = int.TryParse(r, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n <= 16
                ? n : throw new FormatException($"{ReplicasKey} must be a whole number from 0 to 16, got '{r}'");
        var timeout = None.Timeout;
        if (configuration[TimeoutKey] is { Length: > 0 } t)
            timeout = TimeSpan.TryParse(t, CultureInfo.InvariantCulture, out var ts) && ts > TimeSpan.Zero && ts <= TimeSpan.FromSeconds(10)
                ? ts : throw new FormatException($"{TimeoutKey} must be a time span from 0 to 10 s (e.g. 00:00:00.200), got '{t}'");
        return new StoreDurability(replicas, timeout);
    }
}

/// <summary>A write reached the primary but not enough replicas acknowledged it in time: it may not survive a failover.</summary>
public sealed class ReplicaAckTimeoutException(string what, long acked, StoreDurability durability)
    : RedisException($"{what}: {acked} of {durability.Replicas} replica(s) acknowledged within {durability.Timeout.TotalMilliseconds:F0} ms (WAIT); not counted as written")
{
    public long Acked { get; } = acked;
}
