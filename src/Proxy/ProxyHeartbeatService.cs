using ServeAspire.Runtime;
using System.Text.Json;
using Microsoft.Extensions.Options;
using ServeAspire.Model;
using ServeAspire.Store;
using StackExchange.Redis;

namespace ServeAspire.Proxy;

/// <summary>
/// Registers the proxy in the store (with a TTL'd liveness key) so the controller can list it as an
/// actor, and reports its ongoing requests per deployment for the autoscaler.
/// </summary>
internal sealed partial class ProxyHeartbeatService(
    IOptions<ProxyOptions> options,
    ProxyLifecycle lifecycle,
    ServeAspire.Proxy.Routing.RoutingTableState routing,
    IConnectionMultiplexer redis,
    StoreKeys keys,
    TimeProvider time,
    ILogger<ProxyHeartbeatService> logger) : BackgroundService
{
    private readonly DateTimeOffset _startedAt = time.GetUtcNow();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var opts = options.Value;
        using var timer = new PeriodicTimer(opts.HeartbeatInterval, time);
        var failing = false;
        do
        {
            try
            {
                var registration = new ProxyRegistration(opts.Name, lifecycle.InstanceId, opts.EffectiveAdvertisedUrl, Environment.ProcessId, _startedAt, lifecycle.Draining);
                var db = redis.GetDatabase();
                await db.HashSetAsync(keys.Proxies, opts.Name, JsonSerializer.Serialize(registration, SharedJson.Web.ProxyRegistration));
                await db.StringSetAsync(keys.ProxyHeartbeat(opts.Name), lifecycle.InstanceId, opts.HeartbeatTtl);
                // The autoscaler's input: what this proxy has in flight or queued per deployment, zeros included
                // (a falling load must be seen falling). Stamped so the controller can ignore a dead proxy's last word.
                var ongoing = routing.Current.Routers.ToDictionary(r => r.Key, r => r.Value.Ongoing);
                await db.HashSetAsync(keys.OngoingRequests, opts.Name, JsonSerializer.Serialize(
                    new OngoingRequestsReport(opts.Name, time.GetUtcNow().ToUnixTimeMilliseconds(), ongoing), SharedJson.Web.OngoingRequestsReport));
                failing = false;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                if (!failing) Log.HeartbeatFailed(logger, opts.Name, ex.Message);
                failing = true;
            }
        } while (await timer.WaitTickAsync(stoppingToken));
    }


    private static partial class Log
    {
        [LoggerMessage(220, LogLevel.Warning, "Proxy {Proxy} cannot reach the store: {Error}; serving from its cached routing table")]
        public static partial void HeartbeatFailed(ILogger logger, string proxy, string error);
    }
}
