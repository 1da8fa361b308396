using System.Text.Json;
using Microsoft.Extensions.Options;
using ServeAspire.Model;
using ServeAspire.Store;
using StackExchange.Redis;

namespace ServeAspire.Proxy.Routing;

/// <summary>
/// Keeps the cached routing table current (Ray's LongPollClient): a push on the store's channel
/// triggers a read at once, and a periodic poll covers a missed push or a resubscription after an
/// outage. Either way it reads the small index first and fetches only the entries whose version
/// differs from the one it holds; an unchanged index costs one GET. Failures keep the cached table:
/// the data path never waits for the control plane.
/// </summary>
internal sealed partial class RoutingTableClient(
    RoutingTableState state,
    IConnectionMultiplexer redis,
    StoreKeys keys,
    IOptions<ProxyOptions> options,
    ILogger<RoutingTableClient> logger) : BackgroundService
{
    private readonly SemaphoreSlim _wake = new(0, 1);
    private bool _subscribed;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var failing = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            if (!_subscribed) _subscribed = await SubscribeAsync();
            try
            {
                if (await RoutingTableReader.ReadAsync(redis.GetDatabase(), keys, state.Current is { Loaded: true } held ? held.Table : null) is { } table
                    && state.TryApply(table))
                    Log.TableApplied(logger, options.Value.Name, table.Version, table.Routes.Count, table.Routes.Sum(r => r.Replicas.Count));
                if (failing) Log.StoreBack(logger, options.Value.Name);
                failing = false;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException or JsonException)
            {
                if (!failing) Log.StoreUnavailable(logger, options.Value.Name, state.Current.Table.Version, ex.Message);
                failing = true;
            }
            try { await _wake.WaitAsync(options.Value.RoutesPollInterval, stoppingToken); }
            catch (OperationCanceledException) { break; }
        }
    }

    private async Task<bool> SubscribeAsync()
    {
        // Once subscribed, StackExchange.Redis resubscribes by itself after a reconnect.
        try
        {
            await redis.GetSubscriber().SubscribeAsync(RedisChannel.Literal(keys.RoutesChannel), (_, _) => Wake());
            return true;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Log.SubscribeFailed(logger, options.Value.Name, ex.Message);
            return false;
        }
    }

    private void Wake()
    {
        try { _wake.Release(); } catch (SemaphoreFullException) { }
    }

    private static partial class Log
    {
        [LoggerMessage(200, LogLevel.Information, "Proxy {Proxy} applied routing table v{Version}: {Routes} route(s), {Replicas} replica(s)")]
        public static partial void TableApplied(ILogger logger, string proxy, long version, int routes, int replicas);

        [LoggerMessage(201, LogLevel.Warning, "Proxy {Proxy} cannot read the routing table ({Error}); serving from cached v{Version}")]
        public static partial void StoreUnavailable(ILogger logger, string proxy, long version, string error);

        [LoggerMessage(202, LogLevel.Information, "Proxy {Proxy} reads the routing table again")]
        public static partial void StoreBack(ILogger logger, string proxy);

        [LoggerMessage(203, LogLevel.Warning, "Proxy {Proxy} could not subscribe to routing updates ({Error}); polling only")]
        public static partial void SubscribeFailed(ILogger logger, string proxy, string error);
    }
}
