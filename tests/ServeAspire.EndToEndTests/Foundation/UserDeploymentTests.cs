using System.Reflection;
using ServeAspire.EndToEndTests.Infrastructure;

namespace ServeAspire.EndToEndTests.Foundation;

/// <summary>
/// A user's deployment assembly that is none of ServeAspire's own (samples/MyDeployments, not referenced by
/// any service), put on SERVE_DEPLOYMENT_PATH as the layered images do: the controller validates against it
/// and the replicas run it. Its own app, since the controllers and nodes need that variable.
/// </summary>
public sealed class UserDeploymentTests
{
    private static string UserAssemblyDir { get; } = Path.Combine(SharedAppTests.RepoRoot(), "samples", "MyDeployments", "bin",
        typeof(UserDeploymentTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug", "net10.0");

    [Fact]
    public async Task AUsersAssembly_OnTheDeploymentPath_IsValidatedByTheController_AndServedByReplicas()
    {
        Assert.True(File.Exists(Path.Combine(UserAssemblyDir, "MyDeployments.dll")), $"{UserAssemblyDir}/MyDeployments.dll is missing: build the solution first");
        var env = new Dictionary<string, string> { ["SERVE_DEPLOYMENT_PATH"] = UserAssemblyDir };
        await using var app = await ServeApp.StartAsync([], controllerEnv: env, nodeEnv: env);
        const string Echo = """
            applications:
              - name: echo
                route_prefix: /echo
                import_path: MyDeployments:Echo
                deployments: [ { name: Echo, num_replicas: 2 } ]
            """;

        var (missing, missingBody) = await app.PutConfigAsync(Echo.Replace("MyDeployments:Echo", "MyDeployments:NoSuchClass"));
        Assert.Equal(400, missing);
        Assert.Contains("NoSuchClass", missingBody);
        var (status, body) = await app.PutConfigAsync(Echo);
        Assert.True(status == 200, body);
        await ServeApp.WaitUntilAsync(() => app.ReplicasAsync("echo", "Echo"), r => r.Count(x => x.State == "RUNNING") == 2, TimeSpan.FromSeconds(90), "2 RUNNING Echo replicas");
        foreach (var proxy in new[] { 0, 1 })
        {
            using var response = await app.Http.PostAsync(new Uri(app.Proxy(proxy), "/echo"), new StringContent("hi"));
            Assert.Equal("echo: hi", (await response.Content.ReadAsStringAsync()).Trim('"'));
        }
    }
}
