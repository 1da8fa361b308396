using ServeAspire.Runtime;
using Microsoft.Extensions.Options;
using ServeAspire.Controller.Checkpoints;
using StackExchange.Redis;

namespace ServeAspire.Controller.Leadership;

/// <summary>
/// Leader election over a lease in Redis (Ray's head-node role, without its single point of failure):
/// every instance tries to take the lease; the holder renews it every <see cref="ControllerOptions.LeaseRenewInterval"/>
/// (several times per TTL, so a late renewal or two do not lose it) and steps down the moment a renewal is
/// refused, or when it could not renew for a whole TTL (the store unreachable: it can no longer be sure).
/// A standby polls at the same interval and also wakes at the moment the holder's lease would expire
/// (its PTTL), so it takes over a dead leader's lease within milliseconds of its expiry.
/// Each tenure gets a new fencing token from the store.
/// </summary>
internal sealed partial class LeaderElectionService(
    IClusterStore store,
    LeaderState leader,
    IOptions<ControllerOptions> options,
    TimeProvider time,
    ILogger<LeaderElectionService> logger) : BackgroundService
{
    // A standby wakes this long after the holder's PTTL: Redis expires a key only once its time is strictly past.
    internal static readonly TimeSpan ExpiryMargin = TimeSpan.FromMilliseconds(2);

    private readonly long _startedAt = time.GetTimestamp();
    private long _lastRenewal; // timestamp of the last acquire/renew that succeeded
    private bool _storeDown;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        leader.BecameLeader += token => Log.Leading(logger, leader.InstanceId, token, leader.InternalAddress);
        leader.SteppedDown += reason => Log.SteppedDown(logger, leader.InstanceId, reason);
        while (!stoppingToken.IsCancellationRequested)
        {
            var wait = await RoundAsync(stoppingToken);
            try { await Task.Delay(wait, time, stoppingToken); }
            catch (OperationCanceledException) { break; }
        }
    }

    /// <summary>One election round: renew (leader) or try to take the lease (standby), then read who holds it.</summary>
    /// <returns>How long to wait before the next round.</returns>
    internal async Task<TimeSpan> RoundAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        var roundStart = time.GetTimestamp();
        try
        {
            if (leader.HoldsTenure)
            {
                var sentAt = time.GetTimestamp();
                if (await store.RenewLeaseAsync(leader.InstanceId, leader.TenureToken, o.LeaseTtl, cancellationToken))
                {
                    leader.Renewed(sentAt, o.LeaseTtl);
                    _lastRenewal = sentAt;
                }
                else leader.StepDown("the lease is held by another instance or expired");
            }
            else if (time.GetElapsedTime(_startedAt) >= o.LeaseTtl || await store.CurrentTokenAsync(cancellationToken) == 0)
            {
                // A freshly (re)started instance lets a running standby take over first: it only
                // competes after one lease TTL, unless no controller has ever led this cluster.
                var sentAt = time.GetTimestamp();
                var token = await store.AcquireLeaseAsync(leader.InstanceId, leader.InternalAddress, o.LeaseTtl, cancellationToken);
                if (token > 0)
                {
                    _lastRenewal = sentAt;
                    leader.Lead(token, sentAt, o.LeaseTtl);
                }
            }
            var lease = await store.GetLeaseAsync(cancellationToken);
            leader.Leader = lease?.Record;
            if (_storeDown) Log.StoreBack(logger, leader.InstanceId);
            _storeDown = false;
            return NextRound(o.LeaseRenewInterval - time.GetElapsedTime(roundStart), leader.HoldsTenure ? null : lease, leader.InstanceId);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            if (!_storeDown) Log.StoreDown(logger, leader.InstanceId, ex.Message);
            _storeDown = true;
            if (leader.HoldsTenure && time.GetElapsedTime(_lastRenewal) >= o.LeaseTtl)
                leader.StepDown("could not renew the lease for a whole TTL (store unreachable)");
            return NextRound(o.LeaseRenewInterval - time.GetElapsedTime(roundStart), null, leader.InstanceId);
        }
    }

    /// <summary>
    /// The wait before the next round: the rest of the renew interval (measured from the round's start, so a
    /// slow store call does not stretch the period); for a standby, no later than just after another holder's
    /// lease would expire.
    /// </summary>
    internal static TimeSpan NextRound(TimeSpan restOfInterval, LeaseView? othersLease, string self)
    {
        var wait = restOfInterval;
        if (othersLease is { Remaining: { } left } && othersLease.Record.Holder != self && left + ExpiryMargin < wait)
            wait = left + ExpiryMargin;
        return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
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
