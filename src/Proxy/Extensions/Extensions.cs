using Microsoft.Extensions.Options;
using ServeAspire.Proxy.Forwarding;
using ServeAspire.Proxy.LoadBalancing;
using ServeAspire.Proxy.Routing;
using ServeAspire.Runtime;
using ServeAspire.Store;

namespace ServeAspire.Proxy.Extensions;

internal static class Extensions
{
    public static void AddProxyServices(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<ProxyOptions>().BindConfiguration(ProxyOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<ProxyOptions>, ProxyOptionsValidator>();
        builder.WebHost.UseUrls(builder.Configuration[$"{ProxyOptions.Section}:Url"] ?? new ProxyOptions().Url);
        // Any address form (redis://, rediss://, sentinel://, a connection string); secrets and Store:CaFile go into the options only.
        var (store, configureStore) = StoreAddress.Prepare(builder.Configuration);
        builder.Services.AddSingleton(store);
        builder.AddRedisClient(StoreAddress.ConnectionName, configureOptions: configureStore);
        builder.Services.AddSingleton(sp => new StoreKeys(sp.GetRequiredService<IOptions<ProxyOptions>>().Value.Cluster));
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<IRandomSource, SharedRandomSource>();
        builder.Services.AddSingleton<PowerOfTwoChoicesPolicy>();
        builder.Services.AddSingleton(sp => new RoutingTableState(sp.GetRequiredService<PowerOfTwoChoicesPolicy>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<IOptions<ProxyOptions>>().Value.ColdStartTimeout));
        builder.Services.AddSingleton<ProxyLifecycle>();
        builder.Services.AddSingleton<ProxyMetrics>();
        builder.AddPrometheusMetrics(); // served at /-/metrics (ProxyAdminApi)
        builder.Services.AddSingleton<UnresponsiveReplicaReporter>();
        builder.Services.AddSingleton<ReplicaForwarder>();
        builder.Services.AddHttpForwarder();
        builder.Services.AddHostedService<RoutingTableClient>();
        builder.Services.AddHostedService<ProxyHeartbeatService>();
        builder.Services.AddHostedService<DrainCoordinator>();
        builder.Services.AddKillSwitch(sp => sp.GetRequiredService<IOptions<ProxyOptions>>().Value.Name);
        // The drain period, then in-flight requests get up to DrainTimeout.
        builder.Services.AddOptions<HostOptions>().Configure<IOptions<ProxyOptions>>((host, proxy) =>
            host.ShutdownTimeout = proxy.Value.DrainPeriod + proxy.Value.DrainTimeout + TimeSpan.FromSeconds(1));
    }
}
