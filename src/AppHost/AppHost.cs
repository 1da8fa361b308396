using ServeAspire.AppHost;

var builder = DistributedApplication.CreateBuilder(args);
var serve = ServeOptions.From(builder.Configuration);

// The store: a real redis-server (no container runtime here), password-protected, AOF on.
var redis = builder.AddServeRedis(serve);

var controller = builder.AddProject<Projects.Controller>("controller", launchProfileName: null)
    .WithServeDefaults(serve, redis)
    .WithEnvironment("Controller__Url", serve.ControllerUrl)
    .WithHttpEndpoint(port: serve.ControllerPort, isProxied: false)
    .WithHttpHealthCheck("/health")
    .WithServeConfigDeployment(serve);

for (var i = 0; i < serve.Proxies; i++)
{
    var port = serve.ProxyBasePort + i;
    var url = $"http://127.0.0.1:{port}";
    var name = $"proxy-{i}";
    builder.AddProject<Projects.Proxy>(name, launchProfileName: null)
        .WithServeDefaults(serve, redis)
        .WithEnvironment("Proxy__Name", name)
        .WithEnvironment("Proxy__Url", url)
        .WithHttpEndpoint(port: port, isProxied: false)
        .WithHttpHealthCheck("/-/healthz")
        .WaitFor(controller);
}

for (var i = 0; i < serve.Nodes; i++)
{
    var name = $"node-{i}";
    builder.AddProject<Projects.ReplicaHost>(name, launchProfileName: null)
        .WithServeDefaults(serve, redis)
        .WithEnvironment("Node__Id", name);
}

builder.Build().Run();
