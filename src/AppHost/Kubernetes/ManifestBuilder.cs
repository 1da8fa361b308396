using k8s;
using k8s.Models;

namespace ServeAspire.AppHost.Kubernetes;

/// <summary>
/// Builds the Kubernetes objects for the app model (KubeRay's RayService + GCS FT on external Redis,
/// redone for ServeAspire): Redis (StatefulSet, headless Service, Secret, ConfigMap), the controllers,
/// the proxies (+ Service), the node agents, PodDisruptionBudgets, and the serve config. Pure and
/// deterministic: the same inputs give the same objects.
/// </summary>
internal sealed class ManifestBuilder(KubernetesOptions o, string redisPassword, string authToken, string serveConfigYaml, AppModelSummary model)
{
    private const string PartOf = "serveaspire";
    private const int ControllerApiPort = 8265;
    private const int ControllerInternalPort = 8266;
    private const int ProxyPort = 8000;
    private const int NodePort = 8080;
    private const int RedisPort = 6379;
    public const string RedisSecret = "redis-auth";
    public const string AuthSecret = "serve-auth";
    public const string RedisConfigMap = "redis-config";
    public const string ServeConfigMap = "serve-config";

    public sealed record Manifest(string File, IKubernetesObject Object);

    public IReadOnlyList<Manifest> Build()
    {
        var list = new List<Manifest>();
        if (o.EmitNamespace) list.Add(new("namespace.yaml", new V1Namespace { ApiVersion = "v1", Kind = "Namespace", Metadata = new V1ObjectMeta { Name = o.Namespace, Labels = Labels("namespace") } }));
        if (o.StoreSecret is null) list.Add(new("redis-secret.yaml", RedisAuthSecret()));
        list.Add(new("serve-auth-secret.yaml", new V1Secret
        {
            ApiVersion = "v1", Kind = "Secret", Metadata = Meta(AuthSecret, "controller"), Type = "Opaque",
            StringData = new Dictionary<string, string> { ["token"] = authToken },
        }));
        if (o.ExternalRedis is null && o.StoreSecret is null)
        {
            list.Add(new("redis-configmap.yaml", RedisConfig()));
            list.Add(new("redis-service.yaml", Service("redis", "redis", RedisPort, "ClusterIP", headless: true)));
            list.Add(new("redis-statefulset.yaml", RedisStatefulSet()));
        }
        list.Add(new("serve-config.yaml", new V1ConfigMap
        {
            ApiVersion = "v1", Kind = "ConfigMap", Metadata = Meta(ServeConfigMap, "controller"),
            Data = new Dictionary<string, string> { ["serve.yaml"] = serveConfigYaml },
        }));
        list.Add(new("controller-deployment.yaml", ControllerDeployment()));
        list.Add(new("controller-service.yaml", Service("controller", "controller", ControllerApiPort, "ClusterIP")));
        list.Add(new("controller-pdb.yaml", Pdb("controller", minAvailable: 1)));
        list.Add(new("proxy-deployment.yaml", ProxyDeployment()));
        list.Add(new("proxy-service.yaml", Service("proxy", "proxy", ProxyPort, o.ProxyServiceType)));
        list.Add(new("proxy-pdb.yaml", Pdb("proxy", maxUnavailable: 1)));
        list.Add(new("node-deployment.yaml", NodeDeployment()));
        list.Add(new("node-pdb.yaml", Pdb("node", maxUnavailable: 1)));
        return list;
    }

    public string Image(string repository) => $"{o.ImageRegistry}/{repository}:{o.ImageTag}";

    private static Dictionary<string, string> Labels(string component) => new()
    {
        ["app.kubernetes.io/name"] = component,
        ["app.kubernetes.io/part-of"] = PartOf,
    };

    private V1ObjectMeta Meta(string name, string component) => new() { Name = name, NamespaceProperty = o.Namespace, Labels = Labels(component) };

    private V1Secret RedisAuthSecret() => new()
    {
        ApiVersion = "v1", Kind = "Secret", Metadata = Meta(RedisSecret, "redis"), Type = "Opaque",
        StringData = new Dictionary<string, string> { ["password"] = redisPassword },
    };

    private V1ConfigMap RedisConfig() => new()
    {
        ApiVersion = "v1", Kind = "ConfigMap", Metadata = Meta(RedisConfigMap, "redis"),
        // requirepass comes from the Secret on the command line; everything else lives here.
        Data = new Dictionary<string, string> { ["redis.conf"] = "appendonly yes\nappendfsync everysec\ndir /data\nprotected-mode no\nport 6379\n" },
    };

    private V1StatefulSet RedisStatefulSet() => new()
    {
        ApiVersion = "apps/v1", Kind = "StatefulSet", Metadata = Meta("redis", "redis"),
        Spec = new V1StatefulSetSpec
        {
            ServiceName = "redis", Replicas = 1,
            Selector = new V1LabelSelector { MatchLabels = Labels("redis") },
            Template = new V1PodTemplateSpec
            {
                Metadata = new V1ObjectMeta { Labels = Labels("redis") },
                Spec = new V1PodSpec
                {
                    Containers =
                    [
                        new V1Container
                        {
                            Name = "redis", Image = model.RedisImage,
                            Command = ["redis-server", "/etc/redis/redis.conf", "--requirepass", "$(REDIS_PASSWORD)"],
                            Env = [PasswordEnv()],
                            Ports = [new V1ContainerPort { Name = "redis", ContainerPort = RedisPort }],
                            ReadinessProbe = new V1Probe { Exec = new V1ExecAction { Command = ["sh", "-c", "redis-cli -a \"$REDIS_PASSWORD\" --no-auth-warning ping | grep -q PONG"] }, PeriodSeconds = 5 },
                            LivenessProbe = new V1Probe { TcpSocket = new V1TCPSocketAction { Port = "redis" }, PeriodSeconds = 10, InitialDelaySeconds = 5 },
                            Resources = Resources("100m", "128Mi", "1", "512Mi"),
                            VolumeMounts = [new V1VolumeMount { Name = "data", MountPath = "/data" }, new V1VolumeMount { Name = "config", MountPath = "/etc/redis" }],
                        },
                    ],
                    Volumes = [new V1Volume { Name = "config", ConfigMap = new V1ConfigMapVolumeSource { Name = RedisConfigMap } }],
                },
            },
            VolumeClaimTemplates =
            [
                new V1PersistentVolumeClaim
                {
                    Metadata = new V1ObjectMeta { Name = "data" },
                    Spec = new V1PersistentVolumeClaimSpec
                    {
                        AccessModes = ["ReadWriteOnce"],
                        Resources = new V1VolumeResourceRequirements { Requests = new Dictionary<string, ResourceQuantity> { ["storage"] = new("1Gi") } },
                    },
                },
            ],
        },
    };

    private static V1EnvVar PasswordEnv() => new()
    {
        Name = "REDIS_PASSWORD",
        ValueFrom = new V1EnvVarSource { SecretKeyRef = new V1SecretKeySelector { Name = RedisSecret, Key = "password" } },
    };

    /// <summary>The store address (RAY_REDIS_ADDRESS's twin) and namespace prefix (external-storage-namespace's twin).</summary>
    private List<V1EnvVar> StoreEnv(string section)
    {
        var address = o.ExternalRedis ?? $"redis-0.redis.{o.Namespace}.svc.cluster.local:{RedisPort}";
        var env = new List<V1EnvVar>();
        if (o.StoreSecret is not null)
            env.Add(new V1EnvVar { Name = "ConnectionStrings__redis", ValueFrom = new V1EnvVarSource { SecretKeyRef = new V1SecretKeySelector { Name = o.StoreSecret, Key = "address" } } });
        else
        {
            env.Add(PasswordEnv());
            env.Add(new V1EnvVar { Name = "ConnectionStrings__redis", Value = $"{address},password=$(REDIS_PASSWORD),abortConnect=false" });
        }
        if (o.StoreCaSecret is not null) env.Add(new V1EnvVar { Name = "Store__CaFile", Value = StoreCaDir + "/ca.crt" });
        env.Add(new V1EnvVar { Name = $"{section}__Cluster", Value = o.Cluster });
        env.Add(new V1EnvVar { Name = "POD_IP", ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "status.podIP" } } });
        env.Add(new V1EnvVar { Name = "POD_NAME", ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "metadata.name" } } });
        if (o.OtlpEndpoint is not null) env.Add(new V1EnvVar { Name = "OTEL_EXPORTER_OTLP_ENDPOINT", Value = o.OtlpEndpoint });
        return env;
    }

    private const string StoreCaDir = "/etc/serve/store-ca";

    /// <summary>With --store-ca-secret: the CA mounted read-only into the container (its volume added to <paramref name="volumes"/>).</summary>
    private IList<V1Volume>? WithStoreCa(V1Container container, IList<V1Volume>? volumes)
    {
        if (o.StoreCaSecret is null) return volumes;
        container.VolumeMounts = [.. container.VolumeMounts ?? [], new V1VolumeMount { Name = "store-ca", MountPath = StoreCaDir, ReadOnlyProperty = true }];
        return [.. volumes ?? [], new V1Volume { Name = "store-ca", Secret = new V1SecretVolumeSource { SecretName = o.StoreCaSecret, Items = [new V1KeyToPath { Key = "ca.crt", Path = "ca.crt" }] } }];
    }

    /// <summary>The cluster token, for the services that serve or call the control plane (never proxies or replicas).</summary>
    private static V1EnvVar TokenEnv() => new()
    {
        Name = "SERVE_AUTH_TOKEN",
        ValueFrom = new V1EnvVarSource { SecretKeyRef = new V1SecretKeySelector { Name = AuthSecret, Key = "token" } },
    };

    private V1Deployment ControllerDeployment()
    {
        var env = StoreEnv("Controller");
        env.Add(TokenEnv());
        env.Add(new V1EnvVar { Name = "Controller__Url", Value = $"http://0.0.0.0:{ControllerApiPort}" });
        env.Add(new V1EnvVar { Name = "Controller__InternalUrl", Value = $"http://$(POD_IP):{ControllerInternalPort}" });
        env.Add(new V1EnvVar { Name = "Controller__ServeConfigFile", Value = "/etc/serve/serve.yaml" });
        // A fresh deployment waits (bounded) for the node Deployment's pods, so it is spread over all of them.
        env.Add(new V1EnvVar { Name = "Controller__ExpectedNodes", Value = o.Nodes.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        var container = new V1Container
        {
            Name = "controller", Image = Image(Images.Controller), Env = env,
            Ports = [new V1ContainerPort { Name = "api", ContainerPort = ControllerApiPort }, new V1ContainerPort { Name = "internal", ContainerPort = ControllerInternalPort }],
            ReadinessProbe = HttpProbe("/health", "api", period: 5, failureThreshold: 3),
            LivenessProbe = HttpProbe("/alive", "api", period: 10, failureThreshold: 3),
            Resources = Resources("100m", "128Mi", "1", "512Mi"),
            VolumeMounts = [new V1VolumeMount { Name = "serve-config", MountPath = "/etc/serve", ReadOnlyProperty = true }],
        };
        return Deployment("controller", o.Controllers, container, volumes: WithStoreCa(container, [new V1Volume { Name = "serve-config", ConfigMap = new V1ConfigMapVolumeSource { Name = ServeConfigMap } }]));
    }

    private V1Deployment ProxyDeployment()
    {
        var env = StoreEnv("Proxy");
        env.Add(new V1EnvVar { Name = "Proxy__Url", Value = $"http://0.0.0.0:{ProxyPort}" });
        env.Add(new V1EnvVar { Name = "Proxy__Name", Value = "$(POD_NAME)" });
        var container = new V1Container
        {
            Name = "proxy", Image = Image(Images.Proxy), Env = env,
            Ports = [new V1ContainerPort { Name = "http", ContainerPort = ProxyPort }],
            // As KubeRay: out of the Service at the first failed check (draining answers 503).
            ReadinessProbe = HttpProbe("/-/healthz", "http", period: 2, failureThreshold: 1),
            LivenessProbe = HttpProbe("/alive", "http", period: 10, failureThreshold: 3),
            Resources = Resources("250m", "128Mi", "2", "512Mi"),
            // Give endpoints time to drop the pod before SIGTERM starts the proxy's own drain.
            Lifecycle = new V1Lifecycle { PreStop = new V1LifecycleHandler { Sleep = new V1SleepAction { Seconds = 5 } } },
        };
        // preStop 5 s + drain period 2 s + in-flight timeout 20 s < 40 s.
        return Deployment("proxy", o.Proxies, container, volumes: WithStoreCa(container, null), terminationGracePeriodSeconds: 40);
    }

    private V1Deployment NodeDeployment()
    {
        var env = StoreEnv("Node");
        env.Add(TokenEnv());
        env.Add(new V1EnvVar { Name = "Node__Id", Value = "$(POD_NAME)" });
        env.Add(new V1EnvVar { Name = "Node__Url", Value = $"http://$(POD_IP):{NodePort}" });
        env.Add(new V1EnvVar { Name = "Node__ReplicaBindAddress", Value = "$(POD_IP)" });
        var container = new V1Container
        {
            Name = "node", Image = Image(Images.Node), Env = env,
            Ports = [new V1ContainerPort { Name = "http", ContainerPort = NodePort }],
            ReadinessProbe = HttpProbe("/health", "http", period: 5, failureThreshold: 3),
            LivenessProbe = HttpProbe("/alive", "http", period: 10, failureThreshold: 3),
            Resources = Resources("500m", "512Mi", "2", "4Gi"),
        };
        // Replicas drain (graceful_shutdown_timeout_s, 20 s by default) before the node exits.
        return Deployment("node", o.Nodes, container, volumes: WithStoreCa(container, null), terminationGracePeriodSeconds: 60);
    }

    private V1Deployment Deployment(string component, int replicas, V1Container container, IList<V1Volume>? volumes = null, long? terminationGracePeriodSeconds = null) => new()
    {
        ApiVersion = "apps/v1", Kind = "Deployment", Metadata = Meta(component, component),
        Spec = new V1DeploymentSpec
        {
            Replicas = replicas,
            Selector = new V1LabelSelector { MatchLabels = Labels(component) },
            Template = new V1PodTemplateSpec
            {
                Metadata = new V1ObjectMeta { Labels = Labels(component) },
                Spec = new V1PodSpec
                {
                    Containers = [container], Volumes = volumes, TerminationGracePeriodSeconds = terminationGracePeriodSeconds,
                    SecurityContext = new V1PodSecurityContext { RunAsNonRoot = true },
                },
            },
        },
    };

    private V1Service Service(string name, string component, int port, string type, bool headless = false) => new()
    {
        ApiVersion = "v1", Kind = "Service", Metadata = Meta(name, component),
        Spec = new V1ServiceSpec
        {
            Type = type, ClusterIP = headless ? "None" : null, Selector = Labels(component),
            Ports = [new V1ServicePort { Name = component == "redis" ? "redis" : component == "controller" ? "api" : "http", Port = port, TargetPort = port, Protocol = "TCP" }],
        },
    };

    private V1PodDisruptionBudget Pdb(string component, int? minAvailable = null, int? maxUnavailable = null) => new()
    {
        ApiVersion = "policy/v1", Kind = "PodDisruptionBudget", Metadata = Meta(component, component),
        Spec = new V1PodDisruptionBudgetSpec
        {
            Selector = new V1LabelSelector { MatchLabels = Labels(component) },
            MinAvailable = minAvailable is { } m ? (IntOrString)m : null,
            MaxUnavailable = maxUnavailable is { } u ? (IntOrString)u : null,
        },
    };

    private static V1Probe HttpProbe(string path, string port, int period, int failureThreshold) =>
        new() { HttpGet = new V1HTTPGetAction { Path = path, Port = port }, PeriodSeconds = period, FailureThreshold = failureThreshold, TimeoutSeconds = 2 };

    private static V1ResourceRequirements Resources(string cpu, string memory, string cpuLimit, string memoryLimit) => new()
    {
        Requests = new Dictionary<string, ResourceQuantity> { ["cpu"] = new(cpu), ["memory"] = new(memory) },
        Limits = new Dictionary<string, ResourceQuantity> { ["cpu"] = new(cpuLimit), ["memory"] = new(memoryLimit) },
    };
}

/// <summary>What the manifests take from the Aspire app model.</summary>
internal sealed record AppModelSummary(int Controllers, int Proxies, int Nodes, string RedisImage);
