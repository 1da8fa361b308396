using System.Reflection;

namespace ServeAspire.AppHost.Kubernetes;

/// <summary>Options of <c>publish-k8s</c> (flags, or the <c>Kubernetes</c> config section).</summary>
internal sealed record KubernetesOptions
{
    public string Namespace { get; init; } = "serveaspire";
    public bool EmitNamespace { get; init; } = true;
    public int Controllers { get; init; } = 2;
    public int Proxies { get; init; } = 2;
    public int Nodes { get; init; } = 3;
    public string ImageRegistry { get; init; } = Images.Registry;
    public string ImageTag { get; init; } = Images.Tag;
    /// <summary>Use this Redis (host:port, or a Sentinel "serviceName=…" connection string) instead of deploying one.</summary>
    public string? ExternalRedis { get; init; }
    /// <summary>
    /// Take the store address from this Secret (key <c>address</c>: any form the services accept, e.g.
    /// <c>sentinel://:pw@sentinel-0.sentinel:26379,…/mymaster</c> or <c>rediss://user:pw@redis.example.com:6380/0</c>)
    /// instead of deploying a Redis; the address never appears in the manifests.
    /// </summary>
    public string? StoreSecret { get; init; }
    /// <summary>A Secret whose <c>ca.crt</c> is the CA of the store's TLS certificate (mounted, given as Store__CaFile).</summary>
    public string? StoreCaSecret { get; init; }
    /// <summary>Fixed Redis password (else one is generated once and kept in the output folder's .redis-password).</summary>
    public string? RedisPassword { get; init; }
    /// <summary>Fixed cluster token (else one is generated once and kept in the output folder's .auth-token).</summary>
    public string? AuthToken { get; init; }
    public string ProxyServiceType { get; init; } = "ClusterIP";
    public string? OtlpEndpoint { get; init; }
    public string Cluster { get; init; } = "default";
    public string ServeConfigFile { get; init; } = "";

    private static KubernetesOptions Skip(string _, KubernetesOptions o) => o;

    public static KubernetesOptions Parse(string[] args, KubernetesOptions defaults)
    {
        var o = defaults;
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            int NextInt() => int.TryParse(Next(), out var v) && v >= 0 ? v : throw new ArgumentException($"{args[i - 1]} needs a whole number");
            o = args[i] switch
            {
                "--namespace" => o with { Namespace = Next() },
                "--no-namespace" => o with { EmitNamespace = false },
                "--controllers" => o with { Controllers = NextInt() },
                "--proxies" => o with { Proxies = NextInt() },
                "--nodes" => o with { Nodes = NextInt() },
                "--registry" => o with { ImageRegistry = Next() },
                "--tag" => o with { ImageTag = Next() },
                "--external-redis" => o with { ExternalRedis = Next() },
                "--store-secret" => o with { StoreSecret = SecretName(Next(), "--store-secret") },
                "--store-ca-secret" => o with { StoreCaSecret = SecretName(Next(), "--store-ca-secret") },
                "--redis-password" => o with { RedisPassword = Next() },
                "--auth-token" => o with { AuthToken = Next() is { Length: >= 16 and <= 1024 } t ? t : throw new ArgumentException("--auth-token needs 16 to 1024 characters") },
                "--proxy-service-type" => o with { ProxyServiceType = Next() is var t && t is "ClusterIP" or "NodePort" or "LoadBalancer" ? t : throw new ArgumentException("--proxy-service-type must be ClusterIP, NodePort or LoadBalancer") },
                "--otlp-endpoint" => o with { OtlpEndpoint = Next() },
                "--cluster" => o with { Cluster = Next() },
                "--serve-config" => o with { ServeConfigFile = Next() },
                "--output" => Skip(Next(), o), // read by the caller
                _ => throw new ArgumentException($"unknown option '{args[i]}'"),
            };
        }
        if (o.StoreSecret is not null && o.ExternalRedis is not null)
            throw new ArgumentException("--store-secret and --external-redis both name the store: give one");
        return o;
    }

    /// <summary>A Kubernetes object name (RFC 1123 subdomain).</summary>
    private static string SecretName(string name, string flag) =>
        System.Text.RegularExpressions.Regex.IsMatch(name, "^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
            ? name : throw new ArgumentException($"{flag} needs a Secret name (lower-case letters, digits, '-' and '.'), got '{name}'");
}

/// <summary>Image names, compiled in from Directory.Build.props (the same properties the services' container settings use).</summary>
internal static class Images
{
    private static string Meta(string key) => typeof(Images).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;
    public static string Registry => Meta("ServeImageRegistry");
    public static string Tag => Meta("ServeImageTag");
    public static string Controller => Meta("ServeControllerImage");
    public static string Proxy => Meta("ServeProxyImage");
    public static string Node => Meta("ServeNodeImage");
}
