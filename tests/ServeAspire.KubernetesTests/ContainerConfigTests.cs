using System.Text.Json;
using k8s;
using k8s.Models;

namespace ServeAspire.KubernetesTests;

/// <summary>
/// Each service's container image as the .NET SDK computes it (<c>ComputeContainerConfig</c>, which
/// needs no registry) must be exactly what the manifests run: repository, tag, port, entrypoint.
/// </summary>
public sealed class ContainerConfigTests
{
    public static TheoryData<string, string, string> Services => new()
    {
        { "Controller", "controller", "ServeAspire.Controller" },
        { "Proxy", "proxy", "ServeAspire.Proxy" },
        { "ReplicaHost", "node", "ServeAspire.ReplicaHost" },
    };

    [Theory]
    [MemberData(nameof(Services))]
    public void ComputedContainerConfig_MatchesTheManifests(string project, string deployment, string assembly)
    {
        var (code, output) = Publisher.Run("dotnet",
            ["msbuild", Path.Combine("src", project, $"{project}.csproj"), "-nologo", "-t:ComputeContainerConfig", "-p:Configuration=Debug",
             "-getProperty:ContainerRegistry", "-getProperty:ContainerRepository", "-getProperty:ContainerImageTags", "-getProperty:ContainerImageTag",
             "-getProperty:ContainerUser", "-getItem:ContainerPort", "-getItem:ContainerAppCommand"],
            Publisher.RepoRoot);
        Assert.True(code == 0, output);
        var json = JsonDocument.Parse(output[output.IndexOf('{')..]).RootElement;
        var props = json.GetProperty("Properties");
        var registry = props.GetProperty("ContainerRegistry").GetString();
        var repository = props.GetProperty("ContainerRepository").GetString();
        var tag = props.GetProperty("ContainerImageTag").GetString();
        var ports = json.GetProperty("Items").GetProperty("ContainerPort").EnumerateArray().Select(p => int.Parse(p.GetProperty("Identity").GetString()!)).ToList();
        var command = json.GetProperty("Items").GetProperty("ContainerAppCommand").EnumerateArray().Select(p => p.GetProperty("Identity").GetString()).ToList();
        Assert.Equal("app", props.GetProperty("ContainerUser").GetString());
        // The exact entrypoint: a working directory without its trailing slash once made it "/appServeAspire.X.dll".
        Assert.Equal(["dotnet", $"/app/{assembly}.dll"], command);

        var dir = Publisher.Publish();
        try
        {
            var manifest = KubernetesYaml.LoadAllFromString(File.ReadAllText(Path.Combine(dir, $"{deployment}-deployment.yaml")), strict: true).OfType<V1Deployment>().Single();
            var container = manifest.Spec.Template.Spec.Containers.Single();
            Assert.Equal($"{registry}/{repository}:{tag}", container.Image);
            Assert.Contains(container.Ports.First().ContainerPort, ports);
            Assert.Contains($"name: {registry}/{repository}\n", File.ReadAllText(Path.Combine(dir, "kustomization.yaml")));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void ImageScript_FailsFastWithAClearMessage_WhenTheBaseImageRegistryIsUnreachable()
    {
        // Point the script at a registry address that refuses at once (loopback, discard port), so the
        // fail-fast path is what runs on every machine, whether or not it reaches mcr.microsoft.com.
        var (code, output) = Publisher.Run("bash", ["scripts/build-images.sh"], Publisher.RepoRoot, TimeSpan.FromSeconds(60),
            new Dictionary<string, string> { ["SERVE_BASE_IMAGE_REGISTRY"] = "127.0.0.1:9" });
        Assert.True(code == 3, output);
        Assert.Contains("cannot reach the base-image registry https://127.0.0.1:9", output);
    }

    private static JsonElement ContainerConfig(string project, params string[] properties)
    {
        var (code, output) = Publisher.Run("dotnet",
            ["msbuild", project, "-nologo", "-restore", "-t:ComputeContainerConfig", "-p:Configuration=Debug", .. properties.Select(p => $"-p:{p}"),
             "-getProperty:ContainerBaseImage", "-getProperty:ContainerRegistry", "-getProperty:ContainerRepository", "-getProperty:ContainerImageTag",
             "-getProperty:ContainerWorkingDirectory", "-getItem:ContainerAppCommand", "-getItem:ContainerEnvironmentVariable"],
            Publisher.RepoRoot);
        Assert.True(code == 0, output);
        return JsonDocument.Parse(output[output.IndexOf('{')..]).RootElement;
    }

    private static List<string?> Command(JsonElement config) =>
        config.GetProperty("Items").GetProperty("ContainerAppCommand").EnumerateArray().Select(p => p.GetProperty("Identity").GetString()).ToList();

    /// <summary>
    /// A user's deployment assembly reaches the cluster as a layer on the published images (samples/MyDeployments):
    /// based on exactly the image the manifests run, with the base's entrypoint, the assembly on SERVE_DEPLOYMENT_PATH.
    /// </summary>
    [Theory]
    [InlineData("node", "ReplicaHost")]
    [InlineData("controller", "Controller")]
    public void UserDeployments_LayerOntoThePublishedImage_TheManifestsRun(string layer, string baseProject)
    {
        var user = ContainerConfig(Path.Combine("samples", "MyDeployments", "MyDeployments.csproj"), $"ServeLayerOn={layer}");
        var baseImage = ContainerConfig(Path.Combine("src", baseProject, $"{baseProject}.csproj"));
        var props = user.GetProperty("Properties");
        var bp = baseImage.GetProperty("Properties");
        var baseRef = $"{bp.GetProperty("ContainerRegistry").GetString()}/{bp.GetProperty("ContainerRepository").GetString()}:{bp.GetProperty("ContainerImageTag").GetString()}";
        Assert.Equal(baseRef, props.GetProperty("ContainerBaseImage").GetString());
        Assert.Equal(Command(baseImage), Command(user)); // the base's program, not the library
        Assert.Equal($"mydeployments/{layer}", props.GetProperty("ContainerRepository").GetString());
        var env = user.GetProperty("Items").GetProperty("ContainerEnvironmentVariable").EnumerateArray()
            .ToDictionary(e => e.GetProperty("Identity").GetString()!, e => e.GetProperty("Value").GetString());
        Assert.Equal("/app/deployments", env["SERVE_DEPLOYMENT_PATH"]);
        Assert.Equal("/app/deployments/", props.GetProperty("ContainerWorkingDirectory").GetString());

        var dir = Publisher.Publish();
        try
        {
            var deployment = layer == "node" ? "node" : "controller";
            var manifest = KubernetesYaml.LoadAllFromString(File.ReadAllText(Path.Combine(dir, $"{deployment}-deployment.yaml")), strict: true).OfType<V1Deployment>().Single();
            Assert.Equal(baseRef, manifest.Spec.Template.Spec.Containers.Single().Image);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void UserDeployments_ALayerOnAnythingElse_IsRefusedByName()
    {
        var (code, output) = Publisher.Run("dotnet",
            ["msbuild", Path.Combine("samples", "MyDeployments", "MyDeployments.csproj"), "-nologo", "-t:ComputeContainerConfig", "-p:Configuration=Debug", "-p:ServeLayerOn=proxy"],
            Publisher.RepoRoot);
        Assert.NotEqual(0, code);
        Assert.Contains("ServeLayerOn must be 'node' or 'controller', not 'proxy'", output);
    }
}
