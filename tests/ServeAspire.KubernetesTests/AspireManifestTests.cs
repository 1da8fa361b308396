using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace ServeAspire.KubernetesTests;

/// <summary>
/// The AppHost as azd and aspirate read it: the Aspire manifest (<c>--publisher manifest</c>), and the
/// Aspire CLI's <c>aspire publish</c> running the project's Kubernetes step.
/// </summary>
public sealed partial class AspireManifestTests : IDisposable
{
    // Inside the repository (artifacts/ is ignored), as a user's manifest would be: project paths are relative to it.
    private readonly string _dir = Directory.CreateDirectory(Path.Combine(Publisher.RepoRoot, "artifacts", $"manifest-test-{Guid.NewGuid():N}")).FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>What azd and aspirate deploy: projects, containers, parameters and values.</summary>
    private static readonly string[] DeployableTypes = ["project.v0", "container.v0", "container.v1", "parameter.v0", "value.v0"];

    private JsonObject Manifest()
    {
        var path = Path.Combine(_dir, "aspire-manifest.json");
        var (code, output) = Publisher.Run("dotnet", [Publisher.AppHostDll, "--publisher", "manifest", "--output-path", path], Publisher.RepoRoot);
        Assert.True(code == 0, $"the manifest publisher failed ({code}): {output}");
        return (JsonObject)JsonNode.Parse(File.ReadAllText(path))!["resources"]!;
    }

    private static IEnumerable<(string Where, string Value)> Strings(JsonNode? node, string where)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (k, v) in o)
                    foreach (var s in Strings(v, $"{where}.{k}")) yield return s;
                break;
            case JsonArray a:
                for (var i = 0; i < a.Count; i++)
                    foreach (var s in Strings(a[i], $"{where}[{i}]")) yield return s;
                break;
            case JsonValue v when v.TryGetValue<string>(out var text):
                yield return (where, text);
                break;
        }
    }

    [Fact]
    public void Manifest_HasOnlyDeployableTypes_TheServicesAndAContainerRedis()
    {
        var resources = Manifest();
        foreach (var (name, resource) in resources)
            Assert.True(DeployableTypes.Contains(resource!["type"]!.GetValue<string>()), $"{name} is {resource!["type"]}: azd and aspirate cannot deploy it");
        Assert.Equal("container.v0", resources["redis"]!["type"]!.GetValue<string>());
        Assert.Contains("/data", resources["redis"]!["volumes"]!.AsArray().Select(v => v!["target"]!.GetValue<string>()));
        foreach (var name in new[] { "controller-0", "controller-1", "proxy-0", "proxy-1", "node-0", "node-1", "node-2" })
        {
            Assert.Equal("project.v0", resources[name]!["type"]!.GetValue<string>());
            Assert.NotNull(resources[name]!["bindings"]); // node agents too: the controller calls them
        }
        Assert.True(resources["proxy-0"]!["bindings"]!["http"]!["external"]!.GetValue<bool>(), "proxies take outside traffic");
        Assert.True(resources["redis-password"]!["inputs"]!["value"]!["secret"]!.GetValue<bool>());
        Assert.True(resources["serve-auth-token"]!["inputs"]!["value"]!["secret"]!.GetValue<bool>());
        Assert.NotNull(resources["serve-auth-token"]!["inputs"]!["value"]!["default"]!["generate"]); // the deploying tool generates it
    }

    [Fact]
    public void Manifest_HoldsNoLoopbackAddress_NoMachinePath_AndNoSecretValue()
    {
        var resources = Manifest();
        var token = File.Exists(Path.Combine(Publisher.RepoRoot, ".state", "auth_token")) ? File.ReadAllText(Path.Combine(Publisher.RepoRoot, ".state", "auth_token")).Trim() : null;
        var strings = Strings(resources, "resources").ToList();
        Assert.True(strings.Count > 50, $"only {strings.Count} strings: the walk found nothing to check");
        foreach (var (where, value) in strings)
        {
            // The Serve config document is the user's: its http_options.host is Ray's field, accepted and reported as ignored.
            if (!where.EndsWith(".Controller__ServeConfigYaml", StringComparison.Ordinal))
                Assert.False(Loopback().IsMatch(value), $"{where} holds a loopback address: {value}");
            Assert.DoesNotContain(Publisher.RepoRoot, value);
            Assert.DoesNotContain(".state", value);
            // Container paths (a volume's target) are the image's, not this machine's.
            if (!where.EndsWith(".target", StringComparison.Ordinal))
                Assert.False(Path.IsPathRooted(value) && !value.StartsWith("/bin/sh", StringComparison.Ordinal), $"{where} is an absolute path: {value}");
            if (token is not null) Assert.DoesNotContain(token, value);
        }
    }

    [Fact]
    public void EveryReference_Resolves()
    {
        var resources = Manifest();
        var references = Strings(resources, "resources")
            .SelectMany(s => Reference().Matches(s.Value).Select(m => (s.Where, Expression: m.Groups[1].Value))).ToList();
        Assert.True(references.Count >= 20, $"only {references.Count} references: the services are not wired through the manifest");
        foreach (var (where, expression) in references)
        {
            var parts = expression.Split('.');
            Assert.True(resources[parts[0]] is JsonObject, $"{where}: {{{expression}}} names no resource");
            var target = (JsonObject)resources[parts[0]]!;
            switch (parts[1])
            {
                case "bindings":
                    Assert.True(target["bindings"]?[parts[2]] is JsonObject, $"{where}: {{{expression}}}: {parts[0]} has no binding '{parts[2]}'");
                    Assert.Contains(parts[3], new[] { "url", "host", "port", "targetPort", "scheme" });
                    break;
                case "connectionString":
                    Assert.True(target["connectionString"] is not null, $"{where}: {{{expression}}}: {parts[0]} has no connection string");
                    break;
                case "inputs":
                    Assert.True(target["inputs"]?[parts[2]] is JsonObject, $"{where}: {{{expression}}}: {parts[0]} has no input '{parts[2]}'");
                    break;
                case "value":
                    Assert.True(target["value"] is not null || target["inputs"] is not null, $"{where}: {{{expression}}}: {parts[0]} has no value");
                    break;
                default:
                    Assert.Fail($"{where}: {{{expression}}} is not a reference azd or aspirate resolve");
                    break;
            }
        }
        // The services find each other by these references: the store, and the controller's own internal endpoint.
        Assert.Equal("{redis.connectionString}", resources["node-0"]!["env"]!["ConnectionStrings__redis"]!.GetValue<string>());
        Assert.Equal("{controller-0.bindings.internal.url}", resources["controller-0"]!["env"]!["Controller__InternalUrl"]!.GetValue<string>());
        Assert.Equal("{proxy-1.bindings.http.url}", resources["proxy-1"]!["env"]!["Proxy__AdvertisedUrl"]!.GetValue<string>());
    }

    [Fact]
    public void AspirePublish_FromTheRepoTool_RunsTheKubernetesStep()
    {
        var (restore, restoreOutput) = Publisher.Run("dotnet", ["tool", "restore"], Publisher.RepoRoot);
        Assert.True(restore == 0, $"dotnet tool restore failed: {restoreOutput}");
        var (code, output) = Publisher.Run("dotnet",
            ["aspire", "publish", "--apphost", Path.Combine("src", "AppHost", "AppHost.csproj"), "--output-path", _dir, "--non-interactive", "--no-build"],
            Publisher.RepoRoot, TimeSpan.FromMinutes(10));
        Assert.True(code == 0, $"aspire publish failed ({code}): {output}");
        var k8s = Path.Combine(_dir, "k8s");
        var files = Directory.GetFiles(k8s, "*.yaml").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.Contains("kustomization.yaml", files);
        var direct = Publisher.Publish();
        try
        {
            Assert.Equal(Directory.GetFiles(direct, "*.yaml").Select(Path.GetFileName).Order(StringComparer.Ordinal), files);
        }
        finally { Directory.Delete(direct, true); }
    }

    [GeneratedRegex(@"\b(127\.\d+\.\d+\.\d+|localhost|\[::1\])\b", RegexOptions.IgnoreCase)]
    private static partial Regex Loopback();

    [GeneratedRegex(@"\{([A-Za-z0-9_-]+\.[A-Za-z0-9_.-]+)\}")]
    private static partial Regex Reference();
}
