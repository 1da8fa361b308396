using ServeAspire.Config;
using ServeAspire.Runtime;

namespace ServeAspire.UnitTests.Config;

public sealed class ConfigValidatorTests
{
    private static readonly DeploymentCatalog Catalog = new();

    private const string Seed = """
        http_options: { host: 127.0.0.1, port: 8000, request_timeout_s: 30 }
        applications:
          - name: sleepy
            route_prefix: /
            import_path: Samples:SleepyPid
            deployments:
              - name: SleepyPid
                num_replicas: 6
                health_check_period_s: 10
                health_check_timeout_s: 30
                graceful_shutdown_timeout_s: 20
                graceful_shutdown_wait_loop_s: 2
                max_ongoing_requests: 5
        """;

    private static ConfigValidationResult Validate(string text) => ConfigValidator.Validate(text, Catalog);

    private static ConfigError SingleError(string text)
    {
        var result = Validate(text);
        Assert.False(result.IsValid);
        return Assert.Single(result.Errors);
    }

    private static string App(string deploymentLines = "", string appLines = "") => $"""
        applications:
          - name: sleepy
            import_path: Samples:SleepyPid
        {appLines}
            deployments:
              - name: SleepyPid
        {deploymentLines}
        """;

    [Fact]
    public void SeedConfig_IsValid_WithEffectiveValues()
    {
        var result = Validate(Seed);
        Assert.True(result.IsValid, result.Summary);
        var app = Assert.Single(result.Config!.Applications);
        Assert.Equal("sleepy", app.Name);
        Assert.Equal("/", app.RoutePrefix);
        var d = Assert.Single(app.Deployments);
        Assert.Equal(("SleepyPid", 6, 5, 10.0, 30.0, 20.0, 2.0), (d.Name, d.NumReplicas, d.MaxOngoingRequests, d.HealthCheckPeriodS, d.HealthCheckTimeoutS, d.GracefulShutdownTimeoutS, d.GracefulShutdownWaitLoopS));
        Assert.Equal(30, result.Config.HttpOptions.RequestTimeoutS);
    }

    [Fact]
    public void JsonConfig_IsAccepted()
    {
        var result = Validate("""{"applications":[{"name":"a","route_prefix":"/a","import_path":"Samples:SleepyPid","deployments":[{"name":"SleepyPid","num_replicas":2}]}]}""");
        Assert.True(result.IsValid, result.Summary);
        Assert.Equal(2, result.Config!.Applications[0].Deployments[0].NumReplicas);
    }

    [Fact]
    public void MisspeltKey_IsRejected_WithSuggestion()
    {
        var e = SingleError(App("        num_replica: 3"));
        Assert.Equal("applications[0].deployments[0].num_replica", e.Loc);
        Assert.Contains("did you mean 'num_replicas'", e.Msg);
    }

    [Fact]
    public void UnknownKeyFarFromAnyKnownKey_IsRejected_ListingKnownKeys()
    {
        var e = SingleError(App(appLines: "    zzzzzzzzzzzzzz: 1"));
        Assert.Equal("applications[0].zzzzzzzzzzzzzz", e.Loc);
        Assert.Contains("known fields here", e.Msg);
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("0")]
    [InlineData("\"2\"")]
    [InlineData("1.5")]
    public void InvalidNumReplicas_IsRejected(string value)
    {
        var e = SingleError(App($"        num_replicas: {value}"));
        Assert.Equal("applications[0].deployments[0].num_replicas", e.Loc);
    }

    [Theory]
    [InlineData("max_ongoing_requests: 0", "max_ongoing_requests")]
    [InlineData("max_queued_requests: 0", "max_queued_requests")]
    [InlineData("health_check_period_s: 0", "health_check_period_s")]
    [InlineData("health_check_timeout_s: -3", "health_check_timeout_s")]
    [InlineData("graceful_shutdown_timeout_s: -1", "graceful_shutdown_timeout_s")]
    [InlineData("max_replicas_per_node: 101", "max_replicas_per_node")]
    [InlineData("health_check_period_s: soon", "health_check_period_s")]
    public void OutOfRangeOption_IsRejected_NamingTheField(string line, string field)
    {
        var e = SingleError(App($"        {line}"));
        Assert.Equal($"applications[0].deployments[0].{field}", e.Loc);
    }

    [Fact]
    public void IntegerInFloatField_IsAccepted()
    {
        var result = Validate(App("        health_check_timeout_s: 3"));
        Assert.True(result.IsValid, result.Summary);
        Assert.Equal(3.0, result.Config!.Applications[0].Deployments[0].HealthCheckTimeoutS);
    }

    [Theory]
    [InlineData("Samples:Nope", "no public type 'Nope'")]
    [InlineData("NoSuchAssembly:Thing", "no assembly 'NoSuchAssembly'")]
    [InlineData("ServeAspire.UnitTests:NotADeployment", "is not a deployment class")]
    [InlineData("ServeAspire.UnitTests:AbstractDeployment", "is not a deployment class")]
    [InlineData("module:sub:graph", "exactly one ':'")]
    [InlineData("module_deployment_graph", "'<assembly>:<type>'")]
    [InlineData(":x", "exactly one ':'")]
    public void UnresolvableImportPath_IsRejected(string importPath, string message)
    {
        var e = SingleError($"""
            applications:
              - name: a
                import_path: "{importPath}"
            """);
        Assert.Equal("applications[0].import_path", e.Loc);
        Assert.Contains(message, e.Msg);
    }

    [Fact]
    public void MissingApplications_IsRejected()
    {
        var result = Validate("""{"not_a_real_field": "value"}""");
        Assert.False(result.IsValid);
        Assert.Contains(result.Errors, e => e.Loc == "applications" && e.Msg == "field required");
        Assert.Contains(result.Errors, e => e.Loc == "not_a_real_field");
    }

    [Fact]
    public void DuplicateNamesAndRoutePrefixes_AreRejected()
    {
        var result = Validate("""
            applications:
              - { name: a, route_prefix: /a, import_path: "Samples:SleepyPid" }
              - { name: a, route_prefix: /a, import_path: "Samples:SleepyPid" }
              - { name: b, route_prefix: null, import_path: "Samples:SleepyPid" }
              - { name: c, route_prefix: null, import_path: "Samples:SleepyPid" }
            """);
        Assert.False(result.IsValid);
        Assert.Contains(result.Errors, e => e.Msg.Contains("Found multiple configs for application \"a\""));
        Assert.Contains(result.Errors, e => e.Msg.Contains("Found duplicate applications for route prefix \"/a\""));
        Assert.Equal(2, result.Errors.Count); // two null prefixes are fine, as in Ray
    }

    [Theory]
    [InlineData("a", "must start with '/'")]
    [InlineData("/a/", "must not end with '/'")]
    [InlineData("/{x}", "wildcards")]
    public void BadRoutePrefix_IsRejected(string prefix, string message)
    {
        var e = SingleError($"""
            applications:
              - name: a
                route_prefix: "{prefix}"
                import_path: Samples:SleepyPid
            """);
        Assert.Equal("applications[0].route_prefix", e.Loc);
        Assert.Contains(message, e.Msg);
    }

    [Fact]
    public void YamlSyntaxError_NamesTheLine()
    {
        var e = SingleError("applications:\n  - name: a\n   import_path: [unclosed");
        Assert.Contains("invalid YAML at line", e.Msg);
    }

    [Fact]
    public void EmptyAppName_AndAppLevelPort_AreRejected()
    {
        var result = Validate("""
            applications:
              - { name: "", import_path: "Samples:SleepyPid", port: 8001 }
            """);
        Assert.Contains(result.Errors, e => e.Loc == "applications[0].name" && e.Msg == "Application names must be nonempty.");
        Assert.Contains(result.Errors, e => e.Loc == "applications[0].port" && e.Msg.Contains("Port 8001 is set in the config for application"));
    }

    [Fact]
    public void RayOnlyKeys_AreAccepted_AndListedAsIgnored()
    {
        var result = Validate("""
            proxy_location: EveryNode
            grpc_options: { port: 9000 }
            logging_config: { log_level: INFO }
            applications:
              - name: sleepy
                import_path: Samples:SleepyPid
                runtime_env: { pip: [torch] }
                args: { model: x }
                deployments:
                  - name: SleepyPid
                    ray_actor_options: { num_cpus: 1 }
                    placement_group_strategy: PACK
            """);
        Assert.True(result.IsValid, result.Summary);
        Assert.Equal(
            ["proxy_location", "grpc_options", "logging_config", "applications[0].args", "applications[0].runtime_env.pip",
             "applications[0].deployments[0].ray_actor_options", "applications[0].deployments[0].placement_group_strategy"],
            result.Ignored);
    }

    [Fact]
    public void ConfigWins_OverAttribute_WhichWinsOverDefaults()
    {
        var fromAttribute = Validate("""
            applications:
              - name: a
                import_path: ServeAspire.UnitTests:AttributedDeployment
            """);
        Assert.True(fromAttribute.IsValid, fromAttribute.Summary);
        var d = fromAttribute.Config!.Applications[0].Deployments[0];
        Assert.Equal((3, 7, 4.0, 30.0), (d.NumReplicas, d.MaxOngoingRequests, d.HealthCheckPeriodS, d.HealthCheckTimeoutS));

        var overridden = Validate("""
            applications:
              - name: a
                import_path: ServeAspire.UnitTests:AttributedDeployment
                deployments: [ { name: AttributedDeployment, num_replicas: 1, health_check_period_s: 9 } ]
            """);
        var o = overridden.Config!.Applications[0].Deployments[0];
        Assert.Equal((1, 7, 9.0), (o.NumReplicas, o.MaxOngoingRequests, o.HealthCheckPeriodS));
    }

    [Fact]
    public void DeploymentOverrideForAnotherName_IsRejected()
    {
        var e = SingleError("""
            applications:
              - name: a
                import_path: ServeAspire.UnitTests:NamedDeployment
                deployments: [ { name: NamedDeployment } ]
            """);
        Assert.Equal("applications[0].deployments[0].name", e.Loc);
        Assert.Contains("its deployment is 'Renamed'", e.Msg);
    }

    [Fact]
    public void AutoscalingWithManualReplicas_IsRejected()
    {
        var e = SingleError(App("        num_replicas: 2\n        autoscaling_config: { min_replicas: 1 }"));
        Assert.Contains("Manually setting num_replicas is not allowed when autoscaling_config is provided.", e.Msg);
    }

    [Fact]
    public void TargetCapacityAndProxyLocation_AreRangeChecked()
    {
        var result = Validate("target_capacity: 101\nproxy_location: Everywhere\napplications: []");
        Assert.Contains(result.Errors, e => e.Loc == "target_capacity");
        Assert.Contains(result.Errors, e => e.Loc == "proxy_location");
    }

    [Fact]
    public void EmptyApplicationsList_IsValid()
    {
        var result = Validate("applications: []");
        Assert.True(result.IsValid, result.Summary);
        Assert.Empty(result.Config!.Applications);
    }
}
