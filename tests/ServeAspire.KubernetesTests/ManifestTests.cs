using k8s;
using k8s.Models;

namespace ServeAspire.KubernetesTests;

/// <summary>The emitted kustomize folder: strict typing, schemas, cross-references, options, determinism.</summary>
public sealed class ManifestTests : IDisposable
{
    private readonly string _dir = Publisher.Publish();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static List<object> LoadAll(string dir) => Directory.GetFiles(dir, "*.yaml")
        .Where(f => Path.GetFileName(f) != "kustomization.yaml")
        .Order(StringComparer.Ordinal)
        .SelectMany(f => KubernetesYaml.LoadAllFromString(File.ReadAllText(f), strict: true))
        .ToList();

    private List<object> Objects => LoadAll(_dir);
    private T One<T>(string name) where T : IMetadata<V1ObjectMeta> => Objects.OfType<T>().Single(o => o.Metadata.Name == name);

    [Fact]
    public void EveryObject_DeserializesStrictly_AndTheKustomizationListsEveryFile()
    {
        var objects = Objects; // strict: an unknown field would throw
        Assert.Equal(
            ["ConfigMap/redis-config", "ConfigMap/serve-config", "Deployment/controller", "Deployment/node", "Deployment/proxy", "Namespace/serveaspire",
             "NetworkPolicy/controller", "NetworkPolicy/node", "NetworkPolicy/redis", "PodDisruptionBudget/controller", "PodDisruptionBudget/node", "PodDisruptionBudget/proxy", "Secret/redis-auth", "Secret/serve-auth",
             "Service/controller", "Service/proxy", "Service/redis", "StatefulSet/redis"],
            objects.Cast<IKubernetesObject<V1ObjectMeta>>().Select(o => $"{o.Kind}/{o.Metadata.Name}").Order(StringComparer.Ordinal));
        var kustomization = File.ReadAllText(Path.Combine(_dir, "kustomization.yaml"));
        foreach (var file in Directory.GetFiles(_dir, "*.yaml").Select(Path.GetFileName).Where(f => f != "kustomization.yaml"))
            Assert.Contains($"  - {file}\n", kustomization);
    }

    [Fact]
    public void EveryObject_PassesTheKubernetesSchemas()
    {
        var validator = Path.Combine(Publisher.RepoRoot, "tests", "k8s-validate");
        var files = Directory.GetFiles(_dir, "*.yaml").Where(f => !f.EndsWith("kustomization.yaml")).Order(StringComparer.Ordinal).ToArray();
        var (code, output) = Publisher.Run("node", ["validate.mjs", .. files], validator);
        Assert.True(code == 0, output);
        Assert.Equal(Objects.Count, output.Split('\n').Count(l => l.StartsWith("ok ")));
    }

    [Fact]
    public void ServiceSelectors_MatchPodTemplates_AndTargetDeclaredPorts()
    {
        var pods = Objects.OfType<V1Deployment>().Select(d => (d.Spec.Template, Name: d.Metadata.Name))
            .Concat(Objects.OfType<V1StatefulSet>().Select(s => (s.Spec.Template, Name: s.Metadata.Name))).ToList();
        foreach (var service in Objects.OfType<V1Service>())
        {
            var matching = pods.Where(p => service.Spec.Selector.All(kv => p.Template.Metadata.Labels.TryGetValue(kv.Key, out var v) && v == kv.Value)).ToList();
            Assert.True(matching.Count == 1, $"Service {service.Metadata.Name} selects {matching.Count} pod templates");
            var ports = matching[0].Template.Spec.Containers.SelectMany(c => c.Ports).ToList();
            foreach (var port in service.Spec.Ports)
                Assert.Contains(ports, p => p.ContainerPort.ToString() == port.TargetPort.Value || p.Name == port.TargetPort.Value);
        }
        foreach (var pdb in Objects.OfType<V1PodDisruptionBudget>())
            Assert.Single(pods, p => pdb.Spec.Selector.MatchLabels.All(kv => p.Template.Metadata.Labels[kv.Key] == kv.Value));
    }

    [Fact]
    public void ProbesAndReferences_PointAtThingsThatExist()
    {
        var secrets = Objects.OfType<V1Secret>().Select(s => s.Metadata.Name).ToHashSet();
        var configMaps = Objects.OfType<V1ConfigMap>().Select(c => c.Metadata.Name).ToHashSet();
        var specs = Objects.OfType<V1Deployment>().Select(d => d.Spec.Template.Spec).Concat(Objects.OfType<V1StatefulSet>().Select(s => s.Spec.Template.Spec));
        foreach (var spec in specs)
        {
            foreach (var volume in spec.Volumes ?? [])
                if (volume.ConfigMap is { } cm) Assert.Contains(cm.Name, configMaps);
            foreach (var c in spec.Containers)
            {
                foreach (var env in c.Env ?? [])
                {
                    if (env.ValueFrom?.SecretKeyRef is { } sk) Assert.Contains(sk.Name, secrets);
                    if (env.ValueFrom?.ConfigMapKeyRef is { } ck) Assert.Contains(ck.Name, configMaps);
                }
                foreach (var probe in new[] { c.ReadinessProbe, c.LivenessProbe }.OfType<V1Probe>())
                {
                    var port = probe.HttpGet?.Port ?? probe.TcpSocket?.Port;
                    if (port is not null) Assert.Contains(c.Ports, p => p.Name == port.Value || p.ContainerPort.ToString() == port.Value);
                }
            }
        }
        var proxy = One<V1Deployment>("proxy").Spec.Template.Spec;
        var readiness = proxy.Containers[0].ReadinessProbe;
        Assert.Equal("/-/healthz", readiness.HttpGet.Path);
        Assert.Equal(1, readiness.FailureThreshold);
        Assert.Equal("/alive", proxy.Containers[0].LivenessProbe.HttpGet.Path);
        Assert.NotNull(proxy.Containers[0].Lifecycle.PreStop);
        Assert.True(proxy.TerminationGracePeriodSeconds > 5 + 2 + 20, "termination grace must exceed preStop + drain period + drain timeout");
    }

    [Fact]
    public void RedisAndTopology_FollowTheAppModel()
    {
        Assert.Equal(2, One<V1Deployment>("controller").Spec.Replicas);
        Assert.Equal(2, One<V1Deployment>("proxy").Spec.Replicas);
        Assert.Equal(3, One<V1Deployment>("node").Spec.Replicas);
        var redis = One<V1StatefulSet>("redis");
        Assert.Equal("redis", redis.Spec.ServiceName);
        Assert.Equal("None", One<V1Service>("redis").Spec.ClusterIP);
        Assert.Single(redis.Spec.VolumeClaimTemplates);
        Assert.Contains("appendonly yes", One<V1ConfigMap>("redis-config").Data["redis.conf"]);
        // The password reaches redis-server through a config include from the Secret, not its command line.
        Assert.Contains("include /etc/redis-auth/auth.conf", One<V1ConfigMap>("redis-config").Data["redis.conf"]);
        Assert.Null(redis.Spec.Template.Spec.Containers[0].Command); // the image's entrypoint stays
        Assert.StartsWith("requirepass ", One<V1Secret>("redis-auth").StringData["auth.conf"]);
        Assert.Equal(File.ReadAllText(Path.Combine(Publisher.RepoRoot, "samples", "serve.yaml")).ReplaceLineEndings("\n"), One<V1ConfigMap>("serve-config").Data["serve.yaml"]);
        foreach (var d in Objects.OfType<V1Deployment>())
        {
            var env = d.Spec.Template.Spec.Containers[0].Env.ToDictionary(e => e.Name);
            Assert.StartsWith("redis-0.redis.serveaspire.svc.cluster.local:6379,password=$(REDIS_PASSWORD)", env["ConnectionStrings__redis"].Value);
            Assert.Contains(env.Keys, k => k.EndsWith("__Cluster"));
            Assert.NotNull(d.Spec.Template.Spec.Containers[0].Resources.Limits);
            // The cluster token: from the Secret for the control plane (controllers, node agents); never for proxies.
            if (d.Metadata.Name is "controller" or "node")
                Assert.Equal(("serve-auth", "token"), (env["SERVE_AUTH_TOKEN"].ValueFrom.SecretKeyRef.Name, env["SERVE_AUTH_TOKEN"].ValueFrom.SecretKeyRef.Key));
            else
                Assert.DoesNotContain("SERVE_AUTH_TOKEN", env.Keys);
        }
        Assert.Equal(File.ReadAllText(Path.Combine(_dir, ".auth-token")).Trim(), One<V1Secret>("serve-auth").StringData["token"]);
    }

    private IEnumerable<(string Name, V1PodSpec Spec)> PodSpecs(IEnumerable<object>? objects = null) =>
        (objects ?? Objects).OfType<V1Deployment>().Select(d => (d.Metadata.Name, d.Spec.Template.Spec))
            .Concat((objects ?? Objects).OfType<V1StatefulSet>().Select(s => (s.Metadata.Name, s.Spec.Template.Spec)));

    /// <summary>
    /// The restricted Pod Security Standard (v1.32), rule by rule, for every pod the manifests make: what the
    /// admission controller of a namespace labelled <c>pod-security.kubernetes.io/enforce: restricted</c> checks.
    /// </summary>
    [Fact]
    public void EveryPod_PassesTheRestrictedPodSecurityProfile()
    {
        var checkedPods = 0;
        string[] allowedVolumes = ["ConfigMap", "Csi", "DownwardAPI", "EmptyDir", "Ephemeral", "PersistentVolumeClaim", "Projected", "Secret"];
        foreach (var (name, spec) in PodSpecs())
        {
            checkedPods++;
            Assert.False(spec.HostNetwork == true || spec.HostPID == true || spec.HostIPC == true, $"{name}: host namespaces");
            foreach (var v in spec.Volumes ?? [])
            {
                var kinds = typeof(V1Volume).GetProperties().Where(p => p.Name != nameof(V1Volume.Name) && p.GetValue(v) is not null).Select(p => p.Name).ToList();
                Assert.True(kinds.All(allowedVolumes.Contains), $"{name}: volume {v.Name} is {string.Join(",", kinds)}, not a restricted-profile volume type");
            }
            var pod = spec.SecurityContext;
            Assert.True(pod?.SeccompProfile?.Type is "RuntimeDefault" or "Localhost", $"{name}: pod seccompProfile must be RuntimeDefault or Localhost");
            Assert.True(pod?.RunAsUser is > 0, $"{name}: runAsUser must be a non-zero UID (images name their user, which kubelet cannot check)");
            foreach (var c in spec.Containers.Concat(spec.InitContainers ?? []))
            {
                var sc = c.SecurityContext;
                Assert.True(sc is not null, $"{name}/{c.Name}: no securityContext");
                Assert.True(sc.Privileged != true, $"{name}/{c.Name}: privileged");
                Assert.True(sc.AllowPrivilegeEscalation == false, $"{name}/{c.Name}: allowPrivilegeEscalation must be false");
                Assert.True(sc.RunAsNonRoot == true || (sc.RunAsNonRoot is null && pod.RunAsNonRoot == true), $"{name}/{c.Name}: runAsNonRoot");
                Assert.True(sc.RunAsUser is null or > 0, $"{name}/{c.Name}: runAsUser 0");
                Assert.Contains("ALL", sc.Capabilities?.Drop ?? []);
                Assert.True((sc.Capabilities?.Add ?? []).All(a => a == "NET_BIND_SERVICE"), $"{name}/{c.Name}: adds capabilities");
                Assert.True(sc.SeccompProfile?.Type is null or "RuntimeDefault" or "Localhost", $"{name}/{c.Name}: seccompProfile");
                // Beyond the profile (the issue asks for it): nothing writes to the image.
                Assert.True(sc.ReadOnlyRootFilesystem == true, $"{name}/{c.Name}: readOnlyRootFilesystem");
                Assert.All(c.Ports ?? [], p => Assert.Null(p.HostPort));
            }
        }
        Assert.Equal(4, checkedPods); // controller, proxy, node, redis: none skipped
    }

    [Fact]
    public void NoSecret_IsOnACommandLine_OrInAProbe()
    {
        var password = File.ReadAllText(Path.Combine(_dir, ".redis-password")).Trim();
        var token = File.ReadAllText(Path.Combine(_dir, ".auth-token")).Trim();
        foreach (var (name, spec) in PodSpecs())
            foreach (var c in spec.Containers)
            {
                var lines = (c.Command ?? []).Concat(c.Args ?? [])
                    .Concat(new[] { c.ReadinessProbe, c.LivenessProbe, c.StartupProbe }.SelectMany(p => p?.Exec?.Command ?? [])).ToList();
                foreach (var line in lines)
                {
                    Assert.DoesNotContain(password, line);
                    Assert.DoesNotContain(token, line);
                    Assert.DoesNotContain("$(REDIS_PASSWORD)", line);
                    Assert.DoesNotContain("$REDIS_PASSWORD", line);
                    Assert.DoesNotContain("-a ", line);
                    Assert.DoesNotContain("requirepass", line);
                }
            }
        var redis = One<V1StatefulSet>("redis").Spec.Template.Spec.Containers[0];
        Assert.Equal(("redis-auth", "password"), (redis.Env.Single(e => e.Name == "REDISCLI_AUTH").ValueFrom.SecretKeyRef.Name, redis.Env.Single(e => e.Name == "REDISCLI_AUTH").ValueFrom.SecretKeyRef.Key));
        Assert.Equal(999L, One<V1StatefulSet>("redis").Spec.Template.Spec.SecurityContext.RunAsUser);
    }

    [Fact]
    public void ProxiesAndNodes_AdvertiseTheirPodIp_AndEveryServicePodSpreadsAndHasAStartupProbe()
    {
        var proxyEnv = One<V1Deployment>("proxy").Spec.Template.Spec.Containers[0].Env.ToDictionary(e => e.Name);
        Assert.Equal("http://0.0.0.0:8000", proxyEnv["Proxy__Url"].Value);
        Assert.Equal("http://$(POD_IP):8000", proxyEnv["Proxy__AdvertisedUrl"].Value);
        Assert.Equal("status.podIP", proxyEnv["POD_IP"].ValueFrom.FieldRef.FieldPath);
        var nodeEnv = One<V1Deployment>("node").Spec.Template.Spec.Containers[0].Env.ToDictionary(e => e.Name);
        Assert.StartsWith("http://$(POD_IP):", nodeEnv["Node__Url"].Value);
        foreach (var d in Objects.OfType<V1Deployment>())
        {
            var spread = Assert.Single(d.Spec.Template.Spec.TopologySpreadConstraints);
            Assert.Equal(("kubernetes.io/hostname", 1), (spread.TopologyKey, spread.MaxSkew));
            Assert.Equal(d.Spec.Selector.MatchLabels, spread.LabelSelector.MatchLabels);
            var c = d.Spec.Template.Spec.Containers[0];
            Assert.NotNull(c.StartupProbe);
            Assert.True(c.StartupProbe.PeriodSeconds * c.StartupProbe.FailureThreshold >= 60, $"{d.Metadata.Name}: the startup probe gives less than 60 s");
            Assert.Contains(c.VolumeMounts, m => m.MountPath == "/tmp"); // the one writable path on a read-only root
        }
    }

    [Fact]
    public void NetworkPolicies_SelectTheirPods_AndLetOnlyServeAspiresOwnPodsReachRedisAndTheNodeApi()
    {
        var pods = PodSpecs().ToDictionary(p => p.Name);
        var policies = Objects.OfType<V1NetworkPolicy>().ToDictionary(p => p.Metadata.Name);
        foreach (var (name, policy) in policies)
        {
            var template = Objects.OfType<V1Deployment>().Select(d => d.Spec.Template).Concat(Objects.OfType<V1StatefulSet>().Select(s => s.Spec.Template))
                .Where(t => policy.Spec.PodSelector.MatchLabels.All(kv => t.Metadata.Labels.TryGetValue(kv.Key, out var v) && v == kv.Value)).ToList();
            Assert.True(template.Count == 1, $"NetworkPolicy {name} selects {template.Count} pod templates");
        }
        string Sources(V1NetworkPolicyIngressRule rule) => rule.FromProperty is null ? "anyone"
            : string.Join("+", rule.FromProperty.SelectMany(f => f.PodSelector.MatchExpressions.Single(e => e.Key == "app.kubernetes.io/name").Values).Order());
        var redis = Assert.Single(policies["redis"].Spec.Ingress);
        Assert.Equal(("controller+node+proxy", 6379), (Sources(redis), redis.Ports.Single().Port.Value == "6379" ? 6379 : -1));
        var node = policies["node"].Spec.Ingress;
        Assert.Contains(node, r => Sources(r) == "controller" && r.Ports.Single().Port.Value == "8080");
        Assert.DoesNotContain(node, r => Sources(r) == "anyone");
        Assert.DoesNotContain(policies.Keys, k => k == "proxy"); // proxies stay open
        Assert.True(pods.ContainsKey("proxy"));
    }

    [Fact]
    public void KubectlKustomize_BuildsTheFolder()
    {
        var (code, output) = Publisher.Run("kubectl", ["kustomize", _dir], Publisher.RepoRoot);
        Assert.True(code == 0, $"kubectl kustomize failed ({code}): {output}");
        var documents = output.Split("\n---\n");
        Assert.Equal(Objects.Count, documents.Length);
        Assert.Contains("kind: NetworkPolicy", output);
    }

    [Fact]
    public void Options_ChangeWhatIsEmitted()
    {
        var dir = Publisher.Publish("--namespace", "prod", "--proxies", "5", "--nodes", "7", "--registry", "registry.example/ml", "--tag", "9.9.9",
            "--external-redis", "redis.prod:6380", "--proxy-service-type", "LoadBalancer", "--otlp-endpoint", "http://otel:4317", "--no-namespace");
        try
        {
            var objects = LoadAll(dir);
            Assert.DoesNotContain(objects, o => o is V1StatefulSet or V1Namespace);
            Assert.DoesNotContain(objects.OfType<V1ConfigMap>(), c => c.Metadata.Name == "redis-config");
            Assert.DoesNotContain(objects.OfType<V1NetworkPolicy>(), p => p.Metadata.Name == "redis");
            var proxy = objects.OfType<V1Deployment>().Single(d => d.Metadata.Name == "proxy");
            Assert.Equal(5, proxy.Spec.Replicas);
            Assert.Equal(7, objects.OfType<V1Deployment>().Single(d => d.Metadata.Name == "node").Spec.Replicas);
            Assert.Equal("registry.example/ml/serveaspire/proxy:9.9.9", proxy.Spec.Template.Spec.Containers[0].Image);
            var env = proxy.Spec.Template.Spec.Containers[0].Env.ToDictionary(e => e.Name);
            Assert.StartsWith("redis.prod:6380,", env["ConnectionStrings__redis"].Value);
            Assert.Equal("http://otel:4317", env["OTEL_EXPORTER_OTLP_ENDPOINT"].Value);
            Assert.Equal("LoadBalancer", objects.OfType<V1Service>().Single(s => s.Metadata.Name == "proxy").Spec.Type);
            Assert.All(objects.Cast<IKubernetesObject<V1ObjectMeta>>(), o => Assert.Equal("prod", o.Metadata.NamespaceProperty));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void StoreSecret_TakesTheAddressFromASecret_AndTheCaFromAnother_NoRedisIsEmitted()
    {
        var dir = Publisher.Publish("--store-secret", "serve-store", "--store-ca-secret", "serve-store-ca");
        try
        {
            var objects = LoadAll(dir);
            Assert.DoesNotContain(objects, o => o is V1StatefulSet);
            Assert.DoesNotContain(objects.OfType<V1Secret>(), s => s.Metadata.Name == "redis-auth");
            foreach (var name in new[] { "controller", "proxy", "node" })
            {
                var spec = objects.OfType<V1Deployment>().Single(d => d.Metadata.Name == name).Spec.Template.Spec;
                var env = spec.Containers[0].Env.ToDictionary(e => e.Name);
                Assert.Null(env["ConnectionStrings__redis"].Value); // never in the manifest itself
                Assert.Equal(("serve-store", "address"), (env["ConnectionStrings__redis"].ValueFrom.SecretKeyRef.Name, env["ConnectionStrings__redis"].ValueFrom.SecretKeyRef.Key));
                Assert.False(env.ContainsKey("REDIS_PASSWORD"));
                Assert.Equal("/etc/serve/store-ca/ca.crt", env["Store__CaFile"].Value);
                Assert.Contains(spec.Containers[0].VolumeMounts, m => m.Name == "store-ca" && m.MountPath == "/etc/serve/store-ca" && m.ReadOnlyProperty == true);
                Assert.Equal("serve-store-ca", spec.Volumes.Single(v => v.Name == "store-ca").Secret.SecretName);
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void BadOption_FailsWithAClearMessage()
    {
        var dir = Directory.CreateTempSubdirectory("serveaspire-k8s-bad-").FullName;
        try
        {
            var (code, output) = Publisher.Run("dotnet", [Publisher.AppHostDll, "publish-k8s", "--output", dir, "--proxy-service-type", "Ingress"], Publisher.RepoRoot);
            Assert.Equal(2, code);
            Assert.Contains("--proxy-service-type must be ClusterIP, NodePort or LoadBalancer", output);
            Assert.Empty(Directory.GetFiles(dir, "*.yaml"));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void PublishingTwice_GivesByteIdenticalFiles()
    {
        var first = Directory.GetFiles(_dir).Order(StringComparer.Ordinal).ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes);
        Publisher.PublishInto(_dir);
        var second = Directory.GetFiles(_dir).Order(StringComparer.Ordinal).ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes);
        Assert.Equal(first.Keys, second.Keys);
        foreach (var (file, bytes) in first) Assert.True(bytes.AsSpan().SequenceEqual(second[file]), $"{file} changed");

        var password = File.ReadAllText(Path.Combine(_dir, ".redis-password")).Trim();
        var token = File.ReadAllText(Path.Combine(_dir, ".auth-token")).Trim();
        var elsewhere = Publisher.Publish("--redis-password", password, "--auth-token", token);
        try
        {
            foreach (var (file, bytes) in first.Where(f => f.Key is not ".redis-password" and not ".auth-token"))
                Assert.True(bytes.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(elsewhere, file!))), $"{file} differs between folders");
        }
        finally { Directory.Delete(elsewhere, true); }
    }
}
