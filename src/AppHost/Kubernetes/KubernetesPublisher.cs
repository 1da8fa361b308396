#pragma warning disable ASPIREPIPELINES001, ASPIREPIPELINES004
using Aspire.Hosting.Pipelines;
using Microsoft.Extensions.DependencyInjection;

namespace ServeAspire.AppHost.Kubernetes;

/// <summary>
/// Emits the Kubernetes manifests from the app model: the counts of controllers, proxies and nodes
/// and the serve config come from the resources declared in AppHost.cs. Reached two ways:
/// <c>dotnet run --project src/AppHost -- publish-k8s --output DIR</c>, and as a step of
/// <c>aspire publish -o DIR</c>.
/// </summary>
internal static class KubernetesPublisher
{
    public static int Run(IDistributedApplicationBuilder builder, ServeOptions serve, string[] args)
    {
        var output = OutputArg(args);
        if (output is null)
        {
            Console.Error.WriteLine("usage: publish-k8s --output DIR [--namespace NS] [--no-namespace] [--controllers N] [--proxies N] [--nodes N] [--registry R] [--tag T] [--external-redis HOST:PORT|sentinel-connection-string] [--store-secret SECRET] [--store-ca-secret SECRET] [--redis-password P] [--proxy-service-type ClusterIP|NodePort|LoadBalancer] [--otlp-endpoint URL] [--cluster NAME] [--serve-config FILE]");
            return 2;
        }
        try
        {
            var written = Publish(builder, serve, args, output);
            Console.WriteLine($"wrote {written.Count} files to {Path.GetFullPath(output)}");
            return 0;
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine($"publish-k8s: {ex.Message}");
            return 2;
        }
    }

    public static IReadOnlyList<string> Publish(IDistributedApplicationBuilder builder, ServeOptions serve, string[] args, string output)
    {
        var model = Summarize(builder);
        var defaults = new KubernetesOptions { Controllers = model.Controllers, Proxies = model.Proxies, Nodes = model.Nodes, Cluster = serve.Cluster };
        var options = KubernetesOptions.Parse(args, defaults);
        var configFile = options.ServeConfigFile is { Length: > 0 } f ? Path.GetFullPath(f) : ServeResourceExtensions.DefaultServeConfig(builder, serve);
        return ManifestWriter.Write(output, options, File.ReadAllText(configFile).ReplaceLineEndings("\n"), model);
    }

    /// <summary>Counts what AppHost.cs declared.</summary>
    private static AppModelSummary Summarize(IDistributedApplicationBuilder builder)
    {
        int Count(string prefix) => builder.Resources.OfType<ProjectResource>().Count(r => r.Name.StartsWith(prefix, StringComparison.Ordinal));
        return new AppModelSummary(Count("controller-"), Count("proxy-"), Count("node-"), "redis:7.0.15");
    }

    private static string? OutputArg(string[] args)
    {
        var i = Array.IndexOf(args, "--output");
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    /// <summary>The same manifests as a step of <c>aspire publish</c> (into its output folder, under k8s/).</summary>
    public static void AddKubernetesPublishStep(this IDistributedApplicationBuilder builder, ServeOptions serve)
    {
        builder.Pipeline.AddStep("publish-k8s", async context =>
        {
            var outputService = context.Services.GetRequiredService<IPipelineOutputService>();
            var dir = Path.Combine(outputService.GetOutputDirectory(), "k8s");
            Publish(builder, serve, [], dir);
            await Task.CompletedTask;
        }, requiredBy: WellKnownPipelineSteps.Publish);
    }
}
