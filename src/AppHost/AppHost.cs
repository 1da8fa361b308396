using Microsoft.Extensions.DependencyInjection;
using ServeAspire.AppHost;
using ServeAspire.AppHost.Dashboard;
using ServeAspire.AppHost.Kubernetes;
using ServeAspire.AppHost.Store;

// `publish-k8s` options are ours, not configuration: keep them away from the builder.
var publishK8s = args.Length > 0 && args[0] == "publish-k8s";
var builder = DistributedApplication.CreateBuilder(publishK8s ? [] : args);
var serve = ServeOptions.From(builder.Configuration);
var restartable = new HashSet<string>();
var controllers = new List<IResourceBuilder<ProjectResource>>();
var nodes = new List<IResourceBuilder<ProjectResource>>();
// Publishing for azd/aspirate (manifest, `aspire publish`): containers, parameters and endpoint references
// instead of this machine's executables, paths and loopback ports (PublishedModel.cs).
var publishing = builder.ExecutionContext.IsPublishMode;

// The store: real redis-server processes (no container runtime here), password-protected, AOF on:
// one (Serve:Store=single), one over TLS only (tls), or a primary, two replicas and three Sentinels (sentinel).
// Published: Aspire's Redis container.
var store = publishing ? builder.AddPublishedStore() : builder.AddServeStore(serve, ServeResourceExtensions.ResolveStateDir(builder, serve));
foreach (var resource in store.Resources) restartable.Add(resource.Resource.Name);

// One cluster token for the control plane (controllers' /api, node agents); proxies and replicas never get it.
var authToken = publishing && !serve.AuthDisabled ? builder.AddPublishedAuthToken() : builder.AddServeAuthToken(serve);

// Two controllers: one leads (lease in Redis), the other stands by. Both answer the REST API on
// ControllerPort (shared with SO_REUSEPORT); each also has its own port for health checks and forwarding.
for (var i = 0; i < serve.Controllers; i++)
{
    var name = $"controller-{i}";
    var internalPort = serve.ControllerPort + 1 + i;
    var internalUrl = $"http://127.0.0.1:{internalPort}";
    var controller = builder.AddProject<Projects.Controller>(name, launchProfileName: null)
        .WithServeDefaults(serve, store)
        .WithClusterToken(authToken)
        .WithEnvironment("Controller__Name", name)
        .WithEnvironment("Controller__ExpectedNodes", serve.Nodes.ToString(System.Globalization.CultureInfo.InvariantCulture));
    if (publishing)
        controller.AsPublishedController(File.ReadAllText(ServeResourceExtensions.DefaultServeConfig(builder, serve)));
    else
        controller
            .WithEnvironment("Controller__Url", serve.ControllerUrl)
            .WithEnvironment("Controller__InternalUrl", internalUrl)
            .WithHttpEndpoint(port: internalPort, isProxied: false)
            .WithHttpHealthCheck("/health");
    controllers.Add(controller);
    restartable.Add(name);
}

if (!publishing) builder.AddServeConfigDeployment(serve, controllers, authToken);

for (var i = 0; i < serve.Proxies; i++)
{
    var port = serve.ProxyBasePort + i;
    var name = $"proxy-{i}";
    if (publishing)
    {
        builder.AddProject<Projects.Proxy>(name, launchProfileName: null)
            .WithServeDefaults(serve, store)
            .WithEnvironment("Proxy__Name", name)
            .AsPublishedProxy();
    }
    else
    {
        // The native-code proxy when one was built (./run.sh, bench/): a third of the memory (issue 10). Its
        // appsettings.json is beside it, and it is told where to send telemetry as the projects are.
        if (serve.ProxyExecutable.Length > 0 && Path.GetFullPath(serve.ProxyExecutable) is var executable)
            LocalProxy(builder.AddExecutable(name, executable, Path.GetDirectoryName(executable)!)
                .WithOtlpExporter().WithEnvironment("OTEL_SERVICE_NAME", name), name, port);
        else
            LocalProxy(builder.AddProject<Projects.Proxy>(name, launchProfileName: null), name, port);
    }
    restartable.Add(name);
}

for (var i = 0; i < serve.Nodes; i++)
{
    var name = $"node-{i}";
    var node = builder.AddProject<Projects.ReplicaHost>(name, launchProfileName: null)
        .WithServeDefaults(serve, store)
        .WithClusterToken(authToken)
        .WithEnvironment("Node__Id", name);
    if (publishing) node.AsPublishedNode();
    nodes.Add(node);
    restartable.Add(name);
}

// `publish-k8s --output DIR [options]`: write Kubernetes manifests from this app model instead of running it.
if (publishK8s)
    return KubernetesPublisher.Run(builder, serve, args[1..]);
builder.AddKubernetesPublishStep(serve);

// The dashboard: each replica a resource under its node, the cluster's status, failure drills as commands.
if (!publishing) builder.AddServeDashboard(serve, authToken, nodes);

if (serve.RestartPolicy && !publishing)
    builder.Services.AddHostedService(sp => ActivatorUtilities.CreateInstance<RestartPolicyService>(sp, (IReadOnlySet<string>)restartable, TimeSpan.FromSeconds(serve.RestartDelaySeconds)));

var startFailure = publishing ? null : builder.AddStartupDeadline(restartable, TimeSpan.FromSeconds(serve.StartTimeoutSeconds));

try
{
    builder.Build().Run();
}
catch (Exception) when (startFailure?.Invoke() is not null)
{
}
// A cancelled start is logged ("Hosting failed to start", a TaskCanceledException) and Run returns or throws: say why, and fail.
if (startFailure?.Invoke() is not { } reason) return 0;
Console.Error.WriteLine($"ServeAspire did not start: {reason}");
return 1;

void LocalProxy<T>(IResourceBuilder<T> proxy, string name, int port) where T : IResourceWithEnvironment, IResourceWithWaitSupport, IResourceWithArgs, IResourceWithEndpoints =>
    proxy
        .WithServeDefaults(serve, store)
        .WithEnvironment("Proxy__Name", name)
        .WithEnvironment("Proxy__Url", "http://127.0.0.1:" + port.ToString(System.Globalization.CultureInfo.InvariantCulture))
        .WithHttpEndpoint(port: port, isProxied: false)
        .WithHttpHealthCheck("/-/healthz");
