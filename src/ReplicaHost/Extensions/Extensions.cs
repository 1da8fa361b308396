using System.Text.Json;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using ServeAspire.Model;
using ServeAspire.ReplicaHost.Nodes;
using ServeAspire.ReplicaHost.Replicas;
using ServeAspire.ReplicaHost.Telemetry;
using ServeAspire.Runtime;
using ServeAspire.Security;
using ServeAspire.Store;

namespace ServeAspire.ReplicaHost.Extensions;

internal static class Extensions
{
    public static void AddNodeServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<NodeOptions>().BindConfiguration(NodeOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        var url = builder.Configuration[$"{NodeOptions.Section}:Url"] ?? new NodeOptions().Url;
        if (builder is WebApplicationBuilder web) web.WebHost.UseUrls(url);
        // Any address form (redis://, rediss://, sentinel://, a connection string); secrets and Store:CaFile go into the options only.
        var (store, configureStore) = StoreAddress.Prepare(builder.Configuration);
        builder.Services.AddSingleton(store);
        builder.AddRedisClient(StoreAddress.ConnectionName, configureOptions: configureStore);
        builder.Services.AddSingleton(sp => new StoreKeys(sp.GetRequiredService<IOptions<NodeOptions>>().Value.Cluster));
        builder.Services.AddSingleton(TimeProvider.System);
        builder.AddClusterToken();
        builder.Services.AddSingleton<LeaderTokens>();
        builder.Services.AddSingleton<NodeIdentity>();
        builder.Services.AddSingleton<IClusterEventPublisher, RedisClusterEventPublisher>();
        // Node:Simulated changes what a replica is and nothing else: the supervisor, node API and heartbeat are the same code.
        builder.Services.AddSingleton<IReplicaLauncher>(sp => sp.GetRequiredService<IOptions<NodeOptions>>().Value.Simulated
            ? ActivatorUtilities.CreateInstance<SimulatedReplicaLauncher>(sp)
            : ActivatorUtilities.CreateInstance<ProcessReplicaLauncher>(sp));
        builder.Services.AddSingleton<ReplicaSupervisor>();
        builder.Services.AddSingleton<NodeMetrics>();
        builder.AddPrometheusMetrics(); // served at /metrics (ReplicasApi), behind the cluster token
        builder.Services.AddHostedService<NodeHeartbeatService>();
        builder.Services.AddKillSwitch(sp => sp.GetRequiredService<IOptions<NodeOptions>>().Value.Id);
        builder.Services.Configure<JsonOptions>(o => o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);
        // Replicas get their whole graceful budget when the node is asked to stop.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(60));
    }
}
