using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ServeAspire.Model;
using ServeAspire.Store;
using StackExchange.Redis;

namespace ServeAspire.Runtime;

/// <summary>What the controller publishes on an actor's kill channel.</summary>
public sealed record KillOrder(string Name, string Reason, string? RequestedBy);

/// <summary>
/// The kill API's reach into a proxy, node agent or controller (Ray's <c>ray.kill</c>): the process
/// listens on its own store channel and, on an order, dies as a crash would (SIGKILL to itself), so
/// what follows is exactly what a real failure triggers: its supervisor (the AppHost's restart policy,
/// Kubernetes) restarts it, and a node's replicas end with it. The store carries the order because
/// proxies hold no cluster token; anyone who can publish there can already rewrite the routing table.
/// </summary>
public sealed partial class KillSwitch(IConnectionMultiplexer redis, StoreKeys keys, string name, ILogger<KillSwitch> logger) : BackgroundService
{
    /// <summary>Exit code of a process that killed itself on an order (128 + SIGKILL, as a kill -9 gives).</summary>
    public const int ExitCode = 137;

    public string Name { get; } = name;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Subscribing needs the store; until it answers, retry (StackExchange.Redis resubscribes by itself after that).
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await redis.GetSubscriber().SubscribeAsync(RedisChannel.Literal(keys.KillChannel(Name)), (_, message) => OnOrder(message));
                return;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                Log.SubscribeFailed(logger, Name, ex.Message);
            }
            try { await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken); }
            catch (OperationCanceledException) { return; }
        }
    }

    private void OnOrder(RedisValue message)
    {
        KillOrder? order = null;
        try { order = JsonSerializer.Deserialize(message.ToString(), SharedJson.Web.KillOrder); }
        catch (JsonException) { }
        // The logger's queue would die with the process: this line goes straight to stderr, which the supervisor keeps.
        Console.Error.WriteLine($"@@serve:killed {Name}: {order?.Reason ?? "killed by the kill API"}");
        Console.Error.Flush();
        Die();
    }

    /// <summary>SIGKILL to this process: no graceful shutdown, no drain, as a crash.</summary>
    public static void Die()
    {
        using var self = System.Diagnostics.Process.GetCurrentProcess();
        self.Kill(); // SIGKILL on Linux
        Environment.Exit(ExitCode); // not reached; here in case the signal could not be sent
    }

    private static partial class Log
    {
        [LoggerMessage(900, LogLevel.Warning, "{Name} could not subscribe to its kill channel ({Error}); retrying")]
        public static partial void SubscribeFailed(ILogger logger, string name, string error);
    }
}

public static class KillSwitchExtensions
{
    /// <summary>Listens for kill orders addressed to <paramref name="name"/> (the actor's name in the State API).</summary>
    public static IServiceCollection AddKillSwitch(this IServiceCollection services, Func<IServiceProvider, string> name) =>
        services.AddHostedService(sp => new KillSwitch(sp.GetRequiredService<IConnectionMultiplexer>(), sp.GetRequiredService<StoreKeys>(), name(sp),
            sp.GetRequiredService<ILogger<KillSwitch>>()));
}
