using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using ServeAspire.Config;
using ServeAspire.Controller.Apis;
using ServeAspire.Controller.Autoscaling;
using ServeAspire.Controller.Checkpoints;
using ServeAspire.Controller.ControlLoop;
using ServeAspire.Controller.Placement;
using ServeAspire.Controller.Deployments;
using ServeAspire.Controller.Health;
using ServeAspire.Controller.Leadership;
using System.Net;
using System.Net.Sockets;
using ServeAspire.Controller.Nodes;
using ServeAspire.Controller.Proxies;
using ServeAspire.Controller.Routing;
using ServeAspire.Controller.Telemetry;
using ServeAspire.Runtime;
using ServeAspire.Security;
using ServeAspire.Store;
using StackExchange.Redis;

namespace ServeAspire.Controller.Extensions;

internal static class Extensions
{
    public static void AddControllerServices(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<ControllerOptions>().BindConfiguration(ControllerOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.AddClusterToken();
        var publicUrl = builder.Configuration[$"{ControllerOptions.Section}:Url"] ?? new ControllerOptions().Url;
        var internalUrl = builder.Configuration[$"{ControllerOptions.Section}:InternalUrl"];
        builder.WebHost.UseUrls(internalUrl is null ? [publicUrl] : [publicUrl, internalUrl]);
        // Every controller instance binds the public API port with SO_REUSEPORT: the kernel spreads
        // connections over the live instances, and when one dies the others keep the port answering.
        var publicPort = new Uri(publicUrl).Port;
        builder.WebHost.UseSockets(o => o.CreateBoundListenSocket = endpoint =>
        {
            var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            if (endpoint is IPEndPoint ip && ip.Port == publicPort && internalUrl is not null)
                socket.SetRawSocketOption(SolSocket, SoReusePort, BitConverter.GetBytes(1));
            socket.Bind(endpoint);
            return socket;
        });
        builder.Services.AddSingleton(sp => new LeaderState(sp.GetRequiredService<TimeProvider>()) { InternalAddress = (internalUrl ?? publicUrl).TrimEnd('/') });
        builder.Services.AddHostedService<LeaderElectionService>();
        builder.Services.AddKillSwitch(sp => sp.GetRequiredService<IOptions<ControllerOptions>>().Value.EffectiveName);
        builder.Services.AddSingleton<IProxyProbe, HttpProxyProbe>();
        builder.Services.AddSingleton<ProxyStateManager>();
        builder.Services.AddHttpForwarder();
        // Any address form (redis://, rediss://, sentinel://, a connection string); secrets and Store:CaFile go into the options only.
        var (store, configureStore) = StoreAddress.Prepare(builder.Configuration);
        builder.Services.AddSingleton(store);
        builder.AddRedisClient(StoreAddress.ConnectionName, configureOptions: configureStore);
        var durability = StoreDurability.From(builder.Configuration, store);
        builder.Services.AddSingleton(sp => new StoreKeys(sp.GetRequiredService<IOptions<ControllerOptions>>().Value.Cluster));
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower;
            o.SerializerOptions.DictionaryKeyPolicy = null;
        });
        builder.Services.AddSingleton<IDeploymentResolver>(_ => new DeploymentCatalog());
        builder.Services.AddSingleton(sp => ConfigLimits.Default with { MaxReplicas = sp.GetRequiredService<IOptions<ControllerOptions>>().Value.MaxReplicas });
        builder.Services.AddSingleton<IClusterStore>(sp => new RedisClusterStore(sp.GetRequiredService<IConnectionMultiplexer>(), sp.GetRequiredService<StoreKeys>(),
            sp.GetRequiredService<TimeProvider>(), durability));
        builder.Services.AddSingleton<INodeClient, HttpNodeClient>();
        builder.Services.AddSingleton(sp => new RoutingTablePublisher(sp.GetRequiredService<IClusterStore>(), sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton<IReplicaHealthProbe, HttpReplicaHealthProbe>();
        builder.Services.AddSingleton(sp => new ReplicaHealthTracker(sp.GetRequiredService<IReplicaHealthProbe>(), Random.Shared.NextDouble, sp.GetRequiredService<ControllerMetrics>()));
        builder.Services.AddSingleton<ControllerMetrics>();
        builder.AddPrometheusMetrics(); // served at /metrics, behind the cluster token (Program.cs)
        builder.Services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<ControllerOptions>>().Value;
            return new DeploymentStateManager(o.RouteWithdrawDelay, o.DeadActorHistory, NewReplicaId, sp.GetRequiredService<ILogger<DeploymentStateManager>>(),
                new ReplicaLimits(o.MaxStartingPerNode, o.MaxStartingPerDeployment, o.ReplicaStartupTimeout, o.RollingUpdateShare));
        });
        builder.Services.AddSingleton<CheckpointManager>();
        builder.Services.AddSingleton<AutoscalingStateManager>();
        builder.Services.AddSingleton<NodeRegistry>();
        builder.Services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<ControllerOptions>>().Value;
            return new NodeSettleGate(o.ExpectedNodes, o.NodeSettleTimeout, o.NodeSettleWindow);
        });
        builder.Services.AddSingleton<TickFailpoint>();
        builder.Services.AddSingleton<RecoveryRehearsal>();
        builder.Services.AddSingleton<ControlLoopService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ControlLoopService>());
        builder.Services.AddSingleton<ConfigWriter>();
        builder.Services.AddSingleton<ServeDetailsBuilder>();
        builder.Services.AddSingleton<ActorKiller>();

        // Node calls are short and level-triggered (the next tick retries), so the pipeline is tight: the
        // service defaults' standard handler (3 retries with 2 s backoff) is replaced for this client, else
        // a killed node's "connection refused" (death at once) is retried past the call's deadline and the
        // node is only noticed when its heartbeat expires.
#pragma warning disable EXTEXP0001 // RemoveAllResilienceHandlers is experimental, and the supported way to replace a default handler for one client
        builder.Services.AddHttpClient(HttpNodeClient.ClientName).ConfigureHttpClient((sp, client) =>
        {
            // Node agents answer only the cluster's token.
            if (sp.GetRequiredService<ClusterToken>().Value is { } token)
                client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        })
        .RemoveAllResilienceHandlers()
        .AddStandardResilienceHandler(o =>
        {
            o.AttemptTimeout.Timeout = TimeSpan.FromSeconds(2);
            o.TotalRequestTimeout.Timeout = TimeSpan.FromSeconds(5);
            o.CircuitBreaker.SamplingDuration = TimeSpan.FromSeconds(10);
            o.Retry.MaxRetryAttempts = 1;
            o.Retry.Delay = TimeSpan.FromMilliseconds(100);
            o.Retry.DisableForUnsafeHttpMethods(); // a retried POST could start a replica twice
        })
        .SelectPipelineByAuthority();
#pragma warning restore EXTEXP0001
    }

    private const int SolSocket = 1;    // SOL_SOCKET on Linux
    private const int SoReusePort = 15; // SO_REUSEPORT on Linux

    /// <summary>Short random replica ids, like Ray's (e.g. <c>oMhRlb</c>).</summary>
    private static string NewReplicaId()
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
        return string.Create(8, 0, (span, _) =>
        {
            for (var i = 0; i < span.Length; i++) span[i] = alphabet[Random.Shared.Next(alphabet.Length)];
        });
    }
}
