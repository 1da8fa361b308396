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
    // The ports the services listen on inside a container: one list for the Kubernetes manifests and the Aspire manifest.
    private const int ControllerApiPort = PublishedModel.ControllerApiPort;
    private const int ControllerInternalPort = PublishedModel.ControllerInternalPort;
    private const int ProxyPort = PublishedModel.ProxyPort;
    private const int NodePort = PublishedModel.NodePort;
    private const int RedisPort = 6379;
    /// <summary>The <c>app</c> user of Microsoft's .NET images (ContainerUser in each project): numeric, so kubelet can check runAsNonRoot.</summary>
    public const long DotnetUid = 1654;
    /// <summary>The <c>redis</c> user of the official Redis image.</summary>
    public const long RedisUid = 999;
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
        list.AddRange(NetworkPolicies());
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
        // The password as a value (clients' env, REDISCLI_AUTH for the probe) and as a config include for redis-server:
        // never on a command line, where `ps` and the pod spec would show it.
        StringData = new Dictionary<string, string> { ["password"] = redisPassword, ["auth.conf"] = $"requirepass \"{redisPassword}\"\n" },
    };

    private V1ConfigMap RedisConfig() => new()
    {
        ApiVersion = "v1", Kind = "ConfigMap", Metadata = Meta(RedisConfigMap, "redis"),
        // requirepass comes from the Secret's auth.conf, included here; everything else lives here.
        Data = new Dictionary<string, string> { ["redis.conf"] = "appendonly yes\nappendfsync everysec\ndir /data\nprotected-mode no\nport 6379\ninclude /etc/redis-auth/auth.conf\n" },
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
                            // Args, not Command: the image's entrypoint stays in charge (it runs redis-server as given, already non-root here).
                            Args = ["redis-server", "/etc/redis/redis.conf"],
                            Env = [new V1EnvVar { Name = "REDISCLI_AUTH", ValueFrom = new V1EnvVarSource { SecretKeyRef = new V1SecretKeySelector { Name = RedisSecret, Key = "password" } } }],
                            Ports = [new V1ContainerPort { Name = "redis", ContainerPort = RedisPort }],
                            ReadinessProbe = new V1Probe { Exec = new V1ExecAction { Command = ["sh", "-c", "redis-cli ping | grep -q PONG"] }, PeriodSeconds = 5 },
                            LivenessProbe = new V1Probe { TcpSocket = new V1TCPSocketAction { Port = "redis" }, PeriodSeconds = 10, InitialDelaySeconds = 5 },
                            Resources = Resources("100m", "128Mi", "1", "512Mi"),
                            SecurityContext = ContainerSecurity(),
                            VolumeMounts =
                            [
                                new V1VolumeMount { Name = "data", MountPath = "/data" },
                                new V1VolumeMount { Name = "config", MountPath = "/etc/redis", ReadOnlyProperty = true },
                                new V1VolumeMount { Name = "auth", MountPath = "/etc/redis-auth", ReadOnlyProperty = true },
                            ],
                        },
                    ],
                    SecurityContext = PodSecurity(RedisUid),
                    Volumes =
                    [
                        new V1Volume { Name = "config", ConfigMap = new V1ConfigMapVolumeSource { Name = RedisConfigMap } },
                        new V1Volume { Name = "auth", Secret = new V1SecretVolumeSource { SecretName = RedisSecret, Items = [new V1KeyToPath { Key = "auth.conf", Path = "auth.conf" }], DefaultMode = 0b100_100_000 /* 0440: the redis group (fsGroup) reads it */ } },
                    ],
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
        // Bound on every interface (the Service, port-forward), registered under the pod IP, which the controller probes.
        env.Add(new V1EnvVar { Name = "Proxy__AdvertisedUrl", Value = $"http://$(POD_IP):{ProxyPort}" });
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

    /// <summary>
    /// A .NET service's Deployment, meeting the restricted Pod Security profile: non-root by UID, no privilege
    /// escalation, no capabilities, RuntimeDefault seccomp, a read-only root file system with an emptyDir at
    /// /tmp (the runtime's diagnostics sockets, replicas' temp files), spread over nodes where the cluster can.
    /// </summary>
    private V1Deployment Deployment(string component, int replicas, V1Container container, IList<V1Volume>? volumes = null, long? terminationGracePeriodSeconds = null)
    {
        container.SecurityContext = ContainerSecurity();
        container.VolumeMounts = [.. container.VolumeMounts ?? [], new V1VolumeMount { Name = "tmp", MountPath = "/tmp" }];
        // Generous: a pod is not restarted while it starts (JIT on a cold node, the store not yet reachable).
        container.StartupProbe ??= new V1Probe { HttpGet = container.LivenessProbe.HttpGet, PeriodSeconds = 2, FailureThreshold = 60, TimeoutSeconds = 2 };
        return DeploymentObject(component, replicas, container, [.. volumes ?? [], new V1Volume { Name = "tmp", EmptyDir = new V1EmptyDirVolumeSource { SizeLimit = new ResourceQuantity("256Mi") } }],
            terminationGracePeriodSeconds);
    }

    private static V1PodSecurityContext PodSecurity(long uid) => new()
    {
        RunAsNonRoot = true, RunAsUser = uid, RunAsGroup = uid, FsGroup = uid,
        SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
    };

    private static V1SecurityContext ContainerSecurity() => new()
    {
        RunAsNonRoot = true, AllowPrivilegeEscalation = false, ReadOnlyRootFilesystem = true,
        Capabilities = new V1Capabilities { Drop = ["ALL"] },
    };

    /// <summary>At most one more pod of a component on any one machine than on another, where the scheduler can (a one-machine cluster still schedules).</summary>
    private static List<V1TopologySpreadConstraint> Spread(string component) =>
    [
        new V1TopologySpreadConstraint
        {
            MaxSkew = 1, TopologyKey = "kubernetes.io/hostname", WhenUnsatisfiable = "ScheduleAnyway",
            LabelSelector = new V1LabelSelector { MatchLabels = Labels(component) },
        },
    ];

    private V1Deployment DeploymentObject(string component, int replicas, V1Container container, IList<V1Volume> volumes, long? terminationGracePeriodSeconds) => new()
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
                    SecurityContext = PodSecurity(DotnetUid),
                    TopologySpreadConstraints = Spread(component),
                },
            },
        },
    };

    /// <summary>
    /// Who may reach what: Redis only from ServeAspire's own pods; node agents (and the replicas inside their pods,
    /// on any port) only from controllers and proxies, the agent's API only from controllers; the controllers'
    /// API from anywhere (it requires the cluster token), their internal port only from each other; proxies open.
    /// </summary>
    private IEnumerable<Manifest> NetworkPolicies()
    {
        V1NetworkPolicyPeer From(params string[] components) => new()
        {
            PodSelector = new V1LabelSelector
            {
                MatchLabels = new Dictionary<string, string> { ["app.kubernetes.io/part-of"] = PartOf },
                MatchExpressions = [new V1LabelSelectorRequirement { Key = "app.kubernetes.io/name", OperatorProperty = "In", Values = components }],
            },
        };
        V1NetworkPolicyPort Port(int port) => new() { Port = port, Protocol = "TCP" };
        V1NetworkPolicy Policy(string component, params V1NetworkPolicyIngressRule[] rules) => new()
        {
            ApiVersion = "networking.k8s.io/v1", Kind = "NetworkPolicy", Metadata = Meta(component, component),
            Spec = new V1NetworkPolicySpec { PodSelector = new V1LabelSelector { MatchLabels = Labels(component) }, PolicyTypes = ["Ingress"], Ingress = rules },
        };
        if (o.ExternalRedis is null && o.StoreSecret is null)
            yield return new("redis-networkpolicy.yaml", Policy("redis", new V1NetworkPolicyIngressRule { FromProperty = [From("controller", "proxy", "node")], Ports = [Port(RedisPort)] }));
        yield return new("node-networkpolicy.yaml", Policy("node",
            new V1NetworkPolicyIngressRule { FromProperty = [From("controller")], Ports = [Port(NodePort)] },
            // Replicas listen on the node pod's IP on ports of their own: proxies forward to them, controllers probe them.
            new V1NetworkPolicyIngressRule { FromProperty = [From("proxy", "controller")] }));
        yield return new("controller-networkpolicy.yaml", Policy("controller",
            new V1NetworkPolicyIngressRule { Ports = [Port(ControllerApiPort)] },
            new V1NetworkPolicyIngressRule { FromProperty = [From("controller")], Ports = [Port(ControllerInternalPort)] }));
    }

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
