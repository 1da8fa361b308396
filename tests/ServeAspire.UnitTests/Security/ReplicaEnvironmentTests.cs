using ServeAspire.ReplicaHost.Replicas;

namespace ServeAspire.UnitTests.Security;

public sealed class ReplicaEnvironmentTests
{
    [Fact]
    public void Restrict_DropsCredentialsAndNodeSettings_AndAnOtlpEndpointThatNeedsTheHeaders()
    {
        var env = new Dictionary<string, string?>
        {
            ["PATH"] = "/usr/bin", ["HOME"] = "/home/u", ["DOTNET_ROOT"] = "/usr/share/dotnet", ["LC_ALL"] = "C.UTF-8",
            ["SERVE_DEPLOYMENT_PATH"] = "/srv/deployments", ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://localhost:4317",
            ["ConnectionStrings__redis"] = "127.0.0.1:6379,password=hunter2", ["SERVE_AUTH_TOKEN"] = "t", ["SERVE_AUTH_TOKEN_PATH"] = "/x",
            ["OTEL_EXPORTER_OTLP_HEADERS"] = "x-otlp-api-key=abc", ["Node__Url"] = "http://127.0.0.1:0", ["Node__Cluster"] = "c",
            ["ASPNETCORE_URLS"] = "http://+:80", ["HTTP_PORTS"] = "80", ["Serve__AuthMode"] = "token", ["REDIS_PASSWORD"] = "p",
            ["DOTNET_DASHBOARD_OTLP_API_KEY"] = "k", ["DOTNET_RESOURCE_SERVICE_ENDPOINT_URL"] = "u", ["AWS_SECRET_ACCESS_KEY"] = "s",
        };
        ReplicaEnvironment.Restrict(env);
        // The endpoint goes too: it wanted the API key the replica must not have, so every export would be refused.
        Assert.Equal(["DOTNET_RESOURCE_SERVICE_ENDPOINT_URL", "DOTNET_ROOT", "HOME", "LC_ALL", "PATH", "SERVE_DEPLOYMENT_PATH"],
            env.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Restrict_KeepsAnOtlpEndpointThatNeedsNoHeaders()
    {
        // A collector in the cluster: replicas export to it like every other service.
        var env = new Dictionary<string, string?>
        {
            ["PATH"] = "/usr/bin", ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://otel-collector:4317", ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "grpc",
            ["OTEL_EXPORTER_OTLP_HEADERS"] = "",
        };
        ReplicaEnvironment.Restrict(env);
        Assert.Equal(["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "PATH"], env.Keys.Order(StringComparer.Ordinal));
    }
}
