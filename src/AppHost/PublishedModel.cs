namespace ServeAspire.AppHost;

/// <summary>
/// The app model as published (<c>--publisher manifest</c>, <c>aspire publish</c>) for azd and aspirate,
/// which deploy projects, containers, parameters and values, not a machine's executables and paths:
/// Redis becomes Aspire's Redis container (generated password, a persistent volume), and every address
/// is an endpoint reference (a logical name resolved by the platform's service discovery), never a
/// loopback literal. Run mode (<c>./run.sh</c>) is unchanged: redis-server as an executable, loopback ports.
/// </summary>
internal static class PublishedModel
{
    /// <summary>The ports the services listen on in a container (the images' ContainerPort, the Kubernetes manifests too).</summary>
    public const int ControllerApiPort = 8265;
    public const int ControllerInternalPort = 8266;
    public const int ProxyPort = 8000;
    public const int NodePort = 8080;

    /// <summary>
    /// Redis as a container with a generated password and its data on a named volume, snapshotted every
    /// second with a change (Aspire's Redis starts redis-server from a shell line of its own, so run mode's
    /// AOF flags cannot be added; a production store is docs/store.md's subject).
    /// </summary>
    public static Store.ServeStore AddPublishedStore(this IDistributedApplicationBuilder builder)
    {
        var password = builder.AddParameter("redis-password", new GenerateParameterDefault { MinLength = 24, Special = false }, secret: true);
        var redis = builder.AddRedis("redis", password: password)
            .WithDataVolume("serveaspire-redis-data")
            .WithPersistence(TimeSpan.FromSeconds(1), 1);
        // "{redis.connectionString}" in the manifest: the deploying tool resolves it. Waiting for the store is run mode's business.
        return new Store.ServeStore(ReferenceExpression.Create($"{redis.Resource}"), [], null);
    }

    /// <summary>The cluster token as a generated secret parameter (the deploying tool keeps it), not a file on this machine.</summary>
    public static IResourceBuilder<ParameterResource> AddPublishedAuthToken(this IDistributedApplicationBuilder builder) =>
        builder.AddParameter("serve-auth-token", new GenerateParameterDefault { MinLength = 43, Special = false }, secret: true);

    /// <summary>A controller: binds every interface, advertises its internal endpoint by logical name (forwarding to the leader goes there).</summary>
    public static IResourceBuilder<ProjectResource> AsPublishedController(this IResourceBuilder<ProjectResource> controller, string serveConfigYaml)
    {
        controller.WithHttpEndpoint(targetPort: ControllerApiPort, name: "api").WithHttpEndpoint(targetPort: ControllerInternalPort, name: "internal");
        var api = controller.GetEndpoint("api");
        return controller
            .WithEnvironment("Controller__Url", ReferenceExpression.Create($"http://0.0.0.0:{api.Property(EndpointProperty.TargetPort)}"))
            .WithEnvironment("Controller__InternalUrl", controller.GetEndpoint("internal"))
            .WithEnvironment("Controller__ServeConfigYaml", serveConfigYaml)
            .WithHttpHealthCheck("/health", endpointName: "api");
    }

    /// <summary>A proxy: binds every interface, registers its endpoint's logical address; reachable from outside.</summary>
    public static IResourceBuilder<ProjectResource> AsPublishedProxy(this IResourceBuilder<ProjectResource> proxy)
    {
        proxy.WithHttpEndpoint(targetPort: ProxyPort, name: "http").WithExternalHttpEndpoints();
        var http = proxy.GetEndpoint("http");
        return proxy
            .WithEnvironment("Proxy__Url", ReferenceExpression.Create($"http://0.0.0.0:{http.Property(EndpointProperty.TargetPort)}"))
            .WithEnvironment("Proxy__AdvertisedUrl", http)
            .WithHttpHealthCheck("/-/healthz", endpointName: "http");
    }

    /// <summary>
    /// A node agent: an endpoint of its own (the controller calls it), replicas listening on every interface
    /// and registered under the node's own IP (<c>Node:AdvertisedHost</c> unset: the first non-loopback address).
    /// </summary>
    public static IResourceBuilder<ProjectResource> AsPublishedNode(this IResourceBuilder<ProjectResource> node)
    {
        node.WithHttpEndpoint(targetPort: NodePort, name: "http");
        var http = node.GetEndpoint("http");
        return node
            .WithEnvironment("Node__Url", ReferenceExpression.Create($"http://0.0.0.0:{http.Property(EndpointProperty.TargetPort)}"))
            .WithEnvironment("Node__ReplicaBindAddress", "0.0.0.0")
            .WithHttpHealthCheck("/health", endpointName: "http");
    }
}
