using ServeAspire.Runtime;
using Microsoft.Extensions.Options;
using ServeAspire.Controller.Checkpoints;
using StackExchange.Redis;

namespace ServeAspire.Controller.Leadership;

/// <summary>
/// Leader election over a lease in Redis (Ray's head-node role, without its single point of failure):
/// every instance tries to take the lease; the holder renews it every <see cref="ControllerOptions.LeaseRenewInterval"/>
/// and steps down the moment a renewal is refused, or when it could not renew for a whole TTL (the store
/// unreachable: it can no longer be sure). Each tenure gets a new fencing token from the store.
/// </summary>
internal sealed partial class LeaderElectionService(
    IClusterStore store,
    LeaderState leader,
    IOptions<ControllerOptions> options,
    TimeProvider time,
    ILogger<LeaderElectionService> logger) : BackgroundService
{
    private DateTimeOffset _lastRenewal;
    private readonly DateTimeOffset _startedAt = time.GetUtcNow();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        leader.BecameLeader += token => Log.Leading(logger, leader.InstanceId, token, leader.InternalAddress);
        leader.SteppedDown += reason => Log.SteppedDown(logger, leader.InstanceId, reason);
        using var timer = new PeriodicTimer(o.LeaseRenewInterval, time);
        var storeDown = false;
        do
        {
            try
            {
                if (leader.HoldsTenure)
                {
                    var sentAt = time.GetTimestamp();
                    if (await store.RenewLeaseAsync(leader.InstanceId, leader.TenureToken, o.LeaseTtl, stoppingToken))
                    {
                        leader.Renewed(sentAt, o.LeaseTtl);
                        _lastRenewal = time.GetUtcNow();
                    }
                    else leader.StepDown("the lease is held by another instance or expired");
                }
                else if (time.GetUtcNow() - _startedAt >= o.LeaseTtl || await store.CurrentTokenAsync(stoppingToken) == 0)
                {
                    // A freshly (re)started instance lets a running standby take over first: it only
                    // competes after one lease TTL, unless no controller has ever led this cluster.
                    var sentAt = time.GetTimestamp();
                    var token = await store.AcquireLeaseAsync(leader.InstanceId, leader.InternalAddress, o.LeaseTtl, stoppingToken);
                    if (token > 0)
                    {
                        _lastRenewal = time.GetUtcNow();
                        leader.Lead(token, sentAt, o.LeaseTtl);
                    }
                }
                leader.Leader = await store.GetLeaseAsync(stoppingToken);
                if (storeDown) Log.StoreBack(logger, leader.InstanceId);
                storeDown = false;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                if (!storeDown) Log.StoreDown(logger, leader.InstanceId, ex.Message);
                storeDown = true;
                if (leader.HoldsTenure && time.GetUtcNow() - _lastRenewal >= o.LeaseTtl)
                    leader.StepDown("could not renew the lease for a whole TTL (store unreachable)");
            }
        } while (await timer.WaitTickAsync(stoppingToken));
    }


    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        if (!leader.HoldsTenure) return;
        leader.StepDown("shutting down");
        // Hand over at once rather than after the TTL.
        try { await store.ReleaseLeaseAsync(leader.InstanceId, cancellationToken); }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException) { }
    }

    private static partial class Log
    {
        [LoggerMessage(500, LogLevel.Warning, "Controller {InstanceId} now leads (fencing token {Token}, address {Address})")]
        public static partial void Leading(ILogger logger, string instanceId, long token, string address);
        [LoggerMessage(501, LogLevel.Warning, "Controller {InstanceId} stepped down: {Reason}")]
        public static partial void SteppedDown(ILogger logger, string instanceId, string reason);
        [LoggerMessage(502, LogLevel.Warning, "Controller {InstanceId} cannot reach the store for the lease: {Error}")]
        public static partial void StoreDown(ILogger logger, string instanceId, string error);
        [LoggerMessage(503, LogLevel.Information, "Controller {InstanceId} reaches the store again")]
        public static partial void StoreBack(ILogger logger, string instanceId);
    }
}
