using System.Net.Sockets;
using System.Text;
using Aspire.Hosting.Lifecycle;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;

namespace ServeAspire.AppHost;

internal static class ServeResourceExtensions
{
    /// <summary>
    /// The cluster token (null when <c>Serve:AuthMode=disabled</c>): a secret parameter whose value is
    /// kept in <c>&lt;state&gt;/auth_token</c> (created with mode 600), so clients on this machine
    /// (curl, tests, the CLI) find it there and it survives AppHost restarts.
    /// </summary>
    public static IResourceBuilder<ParameterResource>? AddServeAuthToken(this IDistributedApplicationBuilder builder, ServeOptions serve)
    {
        if (serve.AuthDisabled) return null;
        var file = Path.Combine(ResolveStateDir(builder, serve), ServeAspire.Security.ClusterToken.FileName);
        var token = new Lazy<string>(() =>
        {
            if (File.Exists(file) && File.ReadAllText(file).Trim() is { Length: >= ServeAspire.Security.ClusterToken.MinLength } existing) return existing;
            var fresh = ServeAspire.Security.ClusterToken.Generate();
            ServeAspire.Security.ClusterToken.WriteFile(file, fresh);
            return fresh;
        });
        return builder.AddParameter("serve-auth-token", () => token.Value, secret: true);
    }

    /// <summary>A service that answers control-plane calls or makes them: it gets the cluster token (or is told auth is off).</summary>
    public static IResourceBuilder<ProjectResource> WithClusterToken(this IResourceBuilder<ProjectResource> project, IResourceBuilder<ParameterResource>? token) =>
        token is null
            ? project.WithEnvironment("Serve__AuthMode", "disabled")
            : project.WithEnvironment(ServeAspire.Security.ClusterToken.EnvVariable, token);

    /// <summary>
    /// What every ServeAspire service gets: the store's address (and CA), the cluster name, to wait for the store,
    /// and no HTTPS certificate: every service speaks plain HTTP on loopback, so Aspire has no TLS to configure and
    /// its "No trusted development certificate" banner does not apply (docs/dashboard.md).
    /// </summary>
    public static IResourceBuilder<T> WithServeDefaults<T>(this IResourceBuilder<T> project, ServeOptions serve, Store.ServeStore store)
        where T : IResourceWithEnvironment, IResourceWithWaitSupport, IResourceWithArgs
    {
#pragma warning disable ASPIRECERTIFICATES001 // evaluation API; the only switch that says "this resource uses no TLS"
        project.WithoutHttpsCertificate();
#pragma warning restore ASPIRECERTIFICATES001
        project
            .WithEnvironment("ConnectionStrings__redis", store.ConnectionString)
            .WithEnvironment("Controller__Cluster", serve.Cluster)
            .WithEnvironment("Proxy__Cluster", serve.Cluster)
            .WithEnvironment("Node__Cluster", serve.Cluster);
        if (store.CaFile is not null) project.WithEnvironment("Store__CaFile", store.CaFile);
        foreach (var resource in store.Resources) project.WaitFor(resource);
        return project;
    }

    /// <summary>
    /// Applies the Serve config file once, when the first controller is healthy, the way KubeRay
    /// applies a RayService's serveConfigV2 through the dashboard API. Later restarts of a controller
    /// recover the config from Redis instead (so a config PUT since then is kept).
    /// </summary>
    public static void AddServeConfigDeployment(this IDistributedApplicationBuilder builder, ServeOptions serve, IEnumerable<IResourceBuilder<ProjectResource>> controllers,
        IResourceBuilder<ParameterResource>? token)
    {
        if (!serve.ApplyConfigOnStart) return;
        var file = DefaultServeConfig(builder, serve);
        var applied = 0;
        foreach (var controller in controllers)
            builder.Eventing.Subscribe<ResourceReadyEvent>(controller.Resource, async (e, ct) =>
            {
                if (Interlocked.Exchange(ref applied, 1) == 1) return;
                var logger = e.Services.GetRequiredService<ResourceLoggerService>().GetLogger(controller.Resource);
                using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
                if (token is not null)
                    http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", await token.Resource.GetValueAsync(ct));
                var url = serve.ControllerUrl + "/api/serve/applications/";
                for (var attempt = 1; attempt <= 30 && !ct.IsCancellationRequested; attempt++)
                {
                    try
                    {
                        var yaml = await File.ReadAllTextAsync(file, ct);
                        using var response = await http.PutAsync(url, new StringContent(yaml, Encoding.UTF8, "application/yaml"), ct);
                        var body = await response.Content.ReadAsStringAsync(ct);
                        if (response.IsSuccessStatusCode)
                        {
                            logger.LogInformation("Applied {ConfigFile}: {Response}", file, body);
                            return;
                        }
                        logger.LogWarning("Applying {ConfigFile} failed: {Status} {Response}", file, (int)response.StatusCode, body);
                        if ((int)response.StatusCode is >= 400 and < 500) return;
                    }
                    catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
                    {
                        logger.LogWarning("Applying {ConfigFile} (attempt {Attempt}) failed: {Error}", file, attempt, ex.Message);
                    }
                    // 503 while no controller leads yet (election): try again shortly.
                    await Task.Delay(TimeSpan.FromSeconds(1), ct);
                }
            });
    }

    /// <summary>The Serve config the AppHost applies (and the manifests carry): Serve:ConfigFile, else samples/serve.yaml.</summary>
    public static string DefaultServeConfig(IDistributedApplicationBuilder builder, ServeOptions serve) =>
        string.IsNullOrEmpty(serve.ConfigFile)
            ? Path.GetFullPath(Path.Combine(builder.AppHostDirectory, "..", "..", "samples", "serve.yaml"))
            : Path.GetFullPath(serve.ConfigFile, builder.AppHostDirectory);

    public static string ResolveStateDir(IDistributedApplicationBuilder builder, ServeOptions serve) =>
        Path.GetFullPath(string.IsNullOrEmpty(serve.StateDir)
            ? Path.Combine(builder.AppHostDirectory, "..", "..", ".state")
            : serve.StateDir, builder.AppHostDirectory);
}
