using ServeAspire.Config;
using ServeAspire.Runtime;

namespace ServeAspire.UnitTests.Config;

/// <summary>Every number and string a config sets is range-checked, with the range in the message, never clamped.</summary>
public sealed class ConfigRangeTests
{
    private static readonly DeploymentCatalog Catalog = new();
    private const string Dep = "applications[0].deployments[0]";

    private static ConfigValidationResult Validate(string text, ConfigLimits? limits = null) =>
        ConfigValidator.Validate(text, Catalog, limits ?? ConfigLimits.Default);

    private static string App(string deploymentLines = "", string appLines = "") => $"""
        applications:
          - name: sleepy
            import_path: Samples:SleepyPid
        {appLines}
            deployments:
              - name: SleepyPid
        {deploymentLines}
        """;

    private static DeploymentSpec ValidDeployment(string text)
    {
        var result = Validate(text);
        Assert.True(result.IsValid, result.Summary);
        return Assert.Single(Assert.Single(result.Config!.Applications).Deployments);
    }

    private static ConfigError SingleError(string text, ConfigLimits? limits = null)
    {
        var result = Validate(text, limits);
        Assert.False(result.IsValid);
        return Assert.Single(result.Errors);
    }

    [Theory]
    [InlineData("num_replicas: 1")]
    [InlineData("num_replicas: 1000")]
    [InlineData("max_ongoing_requests: 1")]
    [InlineData("max_ongoing_requests: 10000")]
    [InlineData("max_queued_requests: -1")]
    [InlineData("max_queued_requests: 1")]
    [InlineData("max_queued_requests: 1000000")]
    [InlineData("health_check_period_s: 0.001")]
    [InlineData("health_check_period_s: 3600")]
    [InlineData("health_check_timeout_s: 3600")]
    [InlineData("graceful_shutdown_timeout_s: 0")]
    [InlineData("graceful_shutdown_timeout_s: 3600")]
    [InlineData("graceful_shutdown_wait_loop_s: 0")]
    [InlineData("graceful_shutdown_wait_loop_s: 3600")]
    [InlineData("max_replicas_per_node: 1")]
    [InlineData("max_replicas_per_node: 100")]
    [InlineData("max_constructor_retry_count: 1")]
    [InlineData("max_constructor_retry_count: 1000")]
    public void ValueJustInsideItsRange_IsAccepted(string line) => ValidDeployment(App($"        {line}"));

    [Theory]
    [InlineData("num_replicas: 0", "num_replicas", "must be greater than 0 and at most 1000 (the cluster's replica cap, Controller:MaxReplicas) (got 0)")]
    [InlineData("num_replicas: 1001", "num_replicas", "must be between 1 and 1000 (the cluster's replica cap, Controller:MaxReplicas) (got 1001)")]
    [InlineData("num_replicas: 100000", "num_replicas", "must be between 1 and 1000 (the cluster's replica cap, Controller:MaxReplicas) (got 100000)")]
    [InlineData("num_replicas: 99999999999999999999", "num_replicas", "must be between 1 and 1000 (the cluster's replica cap, Controller:MaxReplicas) (got 1E+20)")]
    [InlineData("max_ongoing_requests: 0", "max_ongoing_requests", "must be between 1 and 10000 (got 0)")]
    [InlineData("max_ongoing_requests: 10001", "max_ongoing_requests", "must be between 1 and 10000 (got 10001)")]
    [InlineData("max_ongoing_requests: 2.5", "max_ongoing_requests", "must be an integer between 1 and 10000 (got 2.5)")]
    [InlineData("max_queued_requests: -2", "max_queued_requests", "must be -1 (no limit) or between 1 and 1000000 (got -2)")]
    [InlineData("max_queued_requests: 0", "max_queued_requests", "must be -1 (no limit) or between 1 and 1000000 (got 0)")]
    [InlineData("max_queued_requests: 1000001", "max_queued_requests", "must be -1 (no limit) or between 1 and 1000000 (got 1000001)")]
    [InlineData("health_check_period_s: 0", "health_check_period_s", "must be greater than 0 and at most 3600 (got 0)")]
    [InlineData("health_check_period_s: 3600.5", "health_check_period_s", "must be greater than 0 and at most 3600 (got 3600.5)")]
    [InlineData("health_check_timeout_s: -3", "health_check_timeout_s", "must be greater than 0 and at most 3600 (got -3)")]
    [InlineData("health_check_timeout_s: 3601", "health_check_timeout_s", "must be greater than 0 and at most 3600 (got 3601)")]
    [InlineData("health_check_period_s: .inf", "health_check_period_s", "must be a number greater than 0 and at most 3600 (got \".inf\")")]
    [InlineData("health_check_period_s: .nan", "health_check_period_s", "must be a number greater than 0 and at most 3600 (got \".nan\")")]
    [InlineData("graceful_shutdown_timeout_s: -0.1", "graceful_shutdown_timeout_s", "must be between 0 and 3600 (got -0.1)")]
    [InlineData("graceful_shutdown_timeout_s: 3601", "graceful_shutdown_timeout_s", "must be between 0 and 3600 (got 3601)")]
    [InlineData("graceful_shutdown_wait_loop_s: -1", "graceful_shutdown_wait_loop_s", "must be between 0 and 3600 (got -1)")]
    [InlineData("graceful_shutdown_wait_loop_s: 3601", "graceful_shutdown_wait_loop_s", "must be between 0 and 3600 (got 3601)")]
    [InlineData("max_replicas_per_node: 0", "max_replicas_per_node", "must be between 1 and 100 (got 0)")]
    [InlineData("max_replicas_per_node: 101", "max_replicas_per_node", "must be between 1 and 100 (got 101)")]
    [InlineData("max_constructor_retry_count: 0", "max_constructor_retry_count", "must be between 1 and 1000 (got 0)")]
    [InlineData("max_constructor_retry_count: 1001", "max_constructor_retry_count", "must be between 1 and 1000 (got 1001)")]
    [InlineData("max_constructor_retry_count: 99999999999", "max_constructor_retry_count", "must be between 1 and 1000 (got 99999999999)")]
    [InlineData("retry_on_failure: maybe", "retry_on_failure", "must be true or false, got \"maybe\"")]
    public void ValueJustOutsideItsRange_IsRejected_StatingTheRange(string line, string field, string message)
    {
        var e = SingleError(App($"        {line}"));
        Assert.Equal($"{Dep}.{field}", e.Loc);
        Assert.Equal(message, e.Msg);
    }

    [Fact]
    public void NumReplicasAboveTheCap_IsRejected_NotClamped()
    {
        var e = SingleError(App("        num_replicas: 100000"));
        Assert.Contains("1000", e.Msg);
        Assert.Contains(ConfigLimits.MaxReplicasSetting, e.Msg);
    }

    [Fact]
    public void ReplicaCap_ComesFromTheLimits()
    {
        var limits = ConfigLimits.Default with { MaxReplicas = 10 };
        Assert.Equal(10, ValidDeploymentWith(App("        num_replicas: 10"), limits).NumReplicas);
        var e = SingleError(App("        num_replicas: 11"), limits);
        Assert.Equal("must be between 1 and 10 (the cluster's replica cap, Controller:MaxReplicas) (got 11)", e.Msg);
    }

    private static DeploymentSpec ValidDeploymentWith(string text, ConfigLimits limits)
    {
        var result = Validate(text, limits);
        Assert.True(result.IsValid, result.Summary);
        return result.Config!.Applications[0].Deployments[0];
    }

    [Theory]
    [InlineData("""{"applications":[{"name":"a","import_path":"Samples:SleepyPid","deployments":[{"name":"SleepyPid","health_check_period_s":1e400}]}]}""", "health_check_period_s", "must be greater than 0 and at most 3600 (got 1e400)")]
    [InlineData("""{"applications":[{"name":"a","import_path":"Samples:SleepyPid","deployments":[{"name":"SleepyPid","num_replicas":1e400}]}]}""", "num_replicas", "must be between 1 and 1000 (the cluster's replica cap, Controller:MaxReplicas) (got 1e400)")]
    [InlineData("""{"applications":[{"name":"a","import_path":"Samples:SleepyPid","deployments":[{"name":"SleepyPid","max_ongoing_requests":99999999999999999999}]}]}""", "max_ongoing_requests", "must be between 1 and 10000 (got 99999999999999999999)")]
    public void JsonNumberBeyondItsType_IsOutOfRange(string json, string field, string message)
    {
        var e = SingleError(json);
        Assert.Equal($"{Dep}.{field}", e.Loc);
        Assert.Contains(message, e.Msg);
    }

    [Theory]
    [InlineData("request_timeout_s: 3600", null, null)]
    [InlineData("request_timeout_s: 0", "http_options.request_timeout_s", "must be greater than 0 and at most 3600 (got 0)")]
    [InlineData("request_timeout_s: 3601", "http_options.request_timeout_s", "must be greater than 0 and at most 3600 (got 3601)")]
    [InlineData("port: 65535", null, null)]
    [InlineData("port: 0", "http_options.port", "must be between 1 and 65535 (got 0)")]
    [InlineData("port: 65536", "http_options.port", "must be between 1 and 65535 (got 65536)")]
    public void HttpOptions_AreRangeChecked(string option, string? loc, string? message)
    {
        var result = Validate($"http_options: {{ {option} }}\napplications: []");
        if (loc is null) Assert.True(result.IsValid, result.Summary);
        else Assert.Equal(new ConfigError(loc, message!), Assert.Single(result.Errors));
    }

    [Theory]
    [InlineData("0", true)]
    [InlineData("100", true)]
    [InlineData("-1", false)]
    [InlineData("100.5", false)]
    public void TargetCapacity_IsBetween0And100(string value, bool valid)
    {
        var result = Validate($"target_capacity: {value}\napplications: []");
        Assert.Equal(valid, result.IsValid);
        if (!valid) Assert.Equal($"must be between 0 and 100 (got {value})", Assert.Single(result.Errors).Msg);
    }

    // num_replicas: "auto": autoscaled between min and max (Ray's defaults 1..100), starting at
    // initial_replicas, else min_replicas; min_replicas 0 (and initial_replicas 0) scale to zero.

    [Theory]
    [InlineData("", 1, 1, 100)]
    [InlineData("\n        autoscaling_config: { initial_replicas: 3 }", 3, 1, 100)]
    [InlineData("\n        autoscaling_config: { min_replicas: 2, max_replicas: 5 }", 2, 2, 5)]
    [InlineData("\n        autoscaling_config: { min_replicas: 0, max_replicas: 5 }", 0, 0, 5)]
    [InlineData("\n        autoscaling_config: { min_replicas: 0, max_replicas: 5, initial_replicas: 0 }", 0, 0, 5)]
    [InlineData("\n        autoscaling_config: { min_replicas: 0, max_replicas: 5, initial_replicas: 2 }", 2, 0, 5)]
    [InlineData("\n        autoscaling_config: { min_replicas: 1, max_replicas: 1000, initial_replicas: 1000 }", 1000, 1, 1000)]
    public void AutoReplicas_StartAtTheStartingCount_AndCarryTheirBounds(string autoscaling, int expected, int min, int max)
    {
        var result = Validate(App("        num_replicas: auto" + autoscaling));
        Assert.True(result.IsValid, result.Summary);
        var spec = result.Config!.Applications[0].Deployments[0];
        Assert.Equal(expected, spec.NumReplicas);
        Assert.NotNull(spec.Autoscaling);
        Assert.Equal((expected, min, max), (spec.Autoscaling!.InitialReplicas, spec.Autoscaling.MinReplicas, spec.Autoscaling.MaxReplicas));
        Assert.DoesNotContain(result.Ignored, i => i.Contains("min_replicas"));
    }

    [Fact]
    public void TheSampleConfig_WithTheReadmesAutoscalingConfig_Autoscales()
    {
        // The README tour's sed: num_replicas: 6 → an autoscaling_config in flow style, same indentation.
        var sample = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "../../../../../samples/serve.yaml"));
        Assert.Contains("num_replicas: 6", sample);
        var yaml = sample.Replace("num_replicas: 6", "autoscaling_config: { min_replicas: 1, max_replicas: 6, target_ongoing_requests: 2, upscale_delay_s: 2, downscale_delay_s: 10 }");
        var result = ConfigValidator.Validate(yaml, new DeploymentCatalog());
        Assert.True(result.IsValid, result.Summary);
        Assert.Equal(new AutoscalingSpec(1, 6, 1, 2, 2, 10, AutoscalingSpec.DefaultLookBackPeriodS), result.Config!.Applications[0].Deployments[0].Autoscaling);
    }

    [Theory]
    [InlineData("serve.yaml")]
    [InlineData("autoscaling.yaml")]
    [InlineData("updates.yaml")]
    public void EverySampleConfig_Validates_IgnoringOnlyTheProxyAddress(string file)
    {
        // serve.yaml keeps the seed's http_options host and port (the AppHost sets proxy addresses).
        var result = ConfigValidator.Validate(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "../../../../../samples", file)), new DeploymentCatalog());
        Assert.True(result.IsValid, result.Summary);
        Assert.All(result.Ignored, i => Assert.Contains(i, new[] { "http_options.host", "http_options.port" }));
    }

    [Fact]
    public void TheAutoscalingSample_ScalesFromZero()
    {
        var result = ConfigValidator.Validate(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "../../../../../samples/autoscaling.yaml")), new DeploymentCatalog());
        Assert.True(result.IsValid, result.Summary);
        var a = result.Config!.Applications[0].Deployments[0].Autoscaling!;
        Assert.Equal((0, 0, 6), (a.MinReplicas, a.InitialReplicas, a.MaxReplicas));
    }

    [Fact]
    public void TheUpdatesSample_CarriesAUserConfigAndEnvVars()
    {
        var result = ConfigValidator.Validate(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "../../../../../samples/updates.yaml")), new DeploymentCatalog());
        Assert.True(result.IsValid, result.Summary);
        var spec = result.Config!.Applications[0].Deployments[0];
        Assert.Equal("""{"message":"hello"}""", spec.UserConfig);
        Assert.Equal("1", spec.EnvVars!.Values["MODEL_VERSION"]);
    }

    [Fact]
    public void AutoscalingOptions_TakeRaysDefaults_AndTheGivenValues()
    {
        var result = Validate(App("        autoscaling_config: { max_replicas: 4, target_ongoing_requests: 1, upscale_delay_s: 0, downscale_delay_s: 3, upscaling_factor: 2 }"));
        Assert.True(result.IsValid, result.Summary);
        var a = result.Config!.Applications[0].Deployments[0].Autoscaling!;
        Assert.Equal(new AutoscalingSpec(1, 4, 1, 1, 0, 3, AutoscalingSpec.DefaultLookBackPeriodS, UpscalingFactor: 2), a);
    }

    [Theory]
    [InlineData("initial_replicas: 2000000000", "initial_replicas", "must be between 1 and 100 (got 2000000000)")]
    [InlineData("initial_replicas: -5", "initial_replicas", "must be between 1 and 100 (got -5)")]
    [InlineData("{ min_replicas: 2, max_replicas: 4, initial_replicas: 5 }", "initial_replicas", "must be between 2 and 4 (got 5)")]
    [InlineData("{ min_replicas: 0, max_replicas: 4, initial_replicas: -1 }", "initial_replicas", "must be between 0 and 4 (got -1)")]
    [InlineData("{ min_replicas: 1, max_replicas: 4, initial_replicas: 0 }", "initial_replicas", "must be between 1 and 4 (got 0)")]
    [InlineData("min_replicas: -1", "min_replicas", "must be between 0 and 1000 (got -1)")]
    [InlineData("min_replicas: 1001", "min_replicas", "must be between 0 and 1000 (got 1001)")]
    [InlineData("{ max_replicas: 0 }", "max_replicas", "must be between 1 and 1000 (got 0)")]
    [InlineData("{ max_replicas: 1001 }", "max_replicas", "must be between 1 and 1000 (got 1001)")]
    [InlineData("{ min_replicas: 5, max_replicas: 4 }", "max_replicas", "must be greater than or equal to min_replicas (5) and at most 1000 (got 4)")]
    [InlineData("min_replicas: 200", "max_replicas", "max_replicas defaults to 100, below min_replicas (200); set max_replicas between 200 and 1000")]
    [InlineData("target_ongoing_requests: 0", "target_ongoing_requests", "must be greater than 0 and at most 1000000 (got 0)")]
    [InlineData("target_ongoing_requests: 1000001", "target_ongoing_requests", "must be greater than 0 and at most 1000000 (got 1000001)")]
    [InlineData("upscale_delay_s: -1", "upscale_delay_s", "must be between 0 and 86400 (got -1)")]
    [InlineData("downscale_delay_s: 86401", "downscale_delay_s", "must be between 0 and 86400 (got 86401)")]
    [InlineData("look_back_period_s: -0.5", "look_back_period_s", "must be between 0 and 86400 (got -0.5)")]
    [InlineData("metrics_interval_s: 90000", "metrics_interval_s", "must be between 0 and 86400 (got 90000)")]
    [InlineData("upscaling_factor: 0", "upscaling_factor", "must be greater than 0 and at most 100 (got 0)")]
    [InlineData("downscaling_factor: 100.5", "downscaling_factor", "must be greater than 0 and at most 100 (got 100.5)")]
    [InlineData("upscale_smoothing_factor: -1", "upscale_smoothing_factor", "must be greater than 0 and at most 100 (got -1)")]
    [InlineData("downscale_smoothing_factor: fast", "downscale_smoothing_factor", "must be a number greater than 0 and at most 100 (got \"fast\")")]
    [InlineData("min_replica: 1", "min_replica", "unknown field 'min_replica'; did you mean 'min_replicas'?")]
    public void AutoscalingConfigOutOfRange_IsRejected(string setting, string field, string message)
    {
        var mapping = setting.StartsWith('{') ? setting : $"{{ {setting} }}";
        var e = SingleError(App($"        num_replicas: auto\n        autoscaling_config: {mapping}"));
        Assert.Equal($"{Dep}.autoscaling_config.{field}", e.Loc);
        Assert.Equal(message, e.Msg);
    }

    [Fact]
    public void AutoscalingConfigAtItsBounds_IsAccepted()
    {
        ValidDeployment(App("""
                    num_replicas: auto
                    autoscaling_config:
                      min_replicas: 0
                      max_replicas: 1000
                      target_ongoing_requests: 1000000
                      upscale_delay_s: 86400
                      downscale_delay_s: 0
                      look_back_period_s: 86400
                      metrics_interval_s: 0
                      upscaling_factor: 100
                      downscaling_factor: null
                      upscale_smoothing_factor: 0.01
                      downscale_smoothing_factor: null
            """));
    }

    [Fact]
    public void AutoscalingConfigThatIsNotAMapping_IsRejected()
    {
        var e = SingleError(App("        num_replicas: auto\n        autoscaling_config: [1]"));
        Assert.Equal($"{Dep}.autoscaling_config", e.Loc);
        Assert.Equal("must be a mapping, got a list", e.Msg);
    }

    [Fact]
    public void AutoscalingConfigWithoutAuto_IsStillRangeChecked()
    {
        var e = SingleError(App("        autoscaling_config: { max_replicas: 0 }"));
        Assert.Equal($"{Dep}.autoscaling_config.max_replicas", e.Loc);
    }

    [Fact]
    public void ReplicaSumOverApplications_MustFitTheCap()
    {
        var result = Validate("""
            applications:
              - { name: a, route_prefix: /a, import_path: "Samples:SleepyPid", deployments: [ { name: SleepyPid, num_replicas: 600 } ] }
              - { name: b, route_prefix: /b, import_path: "Samples:SleepyPid", deployments: [ { name: SleepyPid, num_replicas: 401 } ] }
            """);
        var e = Assert.Single(result.Errors);
        Assert.Equal("applications", e.Loc);
        Assert.Equal("the applications ask for 1001 replicas in total; at most 1000 are allowed (the cluster's replica cap, Controller:MaxReplicas)", e.Msg);

        Assert.True(Validate("""
            applications:
              - { name: a, route_prefix: /a, import_path: "Samples:SleepyPid", deployments: [ { name: SleepyPid, num_replicas: 600 } ] }
              - { name: b, route_prefix: /b, import_path: "Samples:SleepyPid", deployments: [ { name: SleepyPid, num_replicas: 400 } ] }
            """).IsValid);
    }

    [Fact]
    public void ReplicaSum_CountsAttributeDefaultsAndAutoStartingCounts()
    {
        var limits = ConfigLimits.Default with { MaxReplicas = 5 };
        var result = Validate("""
            applications:
              - { name: a, route_prefix: /a, import_path: "ServeAspire.UnitTests:AttributedDeployment" }
              - name: b
                route_prefix: /b
                import_path: Samples:SleepyPid
                deployments: [ { name: SleepyPid, num_replicas: auto, autoscaling_config: { max_replicas: 5, initial_replicas: 3 } } ]
            """, limits);
        Assert.Contains("ask for 6 replicas in total; at most 5 are allowed", Assert.Single(result.Errors).Msg);
    }

    [Fact]
    public void TooManyApplications_AreRejected_WithoutValidatingEach()
    {
        var apps = string.Join("\n", Enumerable.Range(0, 101).Select(i => $"  - {{ name: a{i}, route_prefix: /a{i}, import_path: \"Samples:SleepyPid\" }}"));
        var e = SingleError("applications:\n" + apps);
        Assert.Equal("applications", e.Loc);
        Assert.Equal("must list between 0 and 100 applications (got 101)", e.Msg);

        Assert.True(Validate("applications:\n" + apps, ConfigLimits.Default with { MaxApplications = 101 }).IsValid);
    }

    [Fact]
    public void AppNameLength_IsBounded()
    {
        Assert.True(Validate(NamedApp(new string('n', 128))).IsValid);
        var e = SingleError(NamedApp(new string('n', 129)));
        Assert.Equal("applications[0].name", e.Loc);
        Assert.Equal("must be between 1 and 128 characters long (got 129 characters)", e.Msg);
    }

    [Fact]
    public void AppNameWithControlCharacters_IsRejected()
    {
        var e = SingleError(NamedApp("a\\x01b"));
        Assert.Equal("applications[0].name", e.Loc);
        Assert.Equal("must not contain control characters (got \"a\\u0001b\")", e.Msg);
    }

    private static string NamedApp(string name) => $"applications:\n  - {{ name: \"{name}\", import_path: \"Samples:SleepyPid\" }}";

    [Fact]
    public void DeploymentNameLength_IsBounded()
    {
        var e = SingleError($"applications:\n  - {{ name: a, import_path: \"Samples:SleepyPid\", deployments: [ {{ name: {new string('d', 129)} }} ] }}");
        Assert.Equal($"{Dep}.name", e.Loc);
        Assert.Contains("between 1 and 128 characters", e.Msg);
    }

    [Fact]
    public void RoutePrefixLength_IsBounded()
    {
        Assert.True(Validate(PrefixedApp("/" + new string('p', 255))).IsValid);
        var e = SingleError(PrefixedApp("/" + new string('p', 256)));
        Assert.Equal("applications[0].route_prefix", e.Loc);
        Assert.Equal("route_prefix must be at most 256 characters long (got 257 characters)", e.Msg);
    }

    private static string PrefixedApp(string prefix) => $"applications:\n  - {{ name: a, route_prefix: \"{prefix}\", import_path: \"Samples:SleepyPid\" }}";

    [Fact]
    public void ImportPathLength_IsBounded()
    {
        var e = SingleError($"applications:\n  - {{ name: a, import_path: \"Samples:{new string('T', 600)}\" }}");
        Assert.Equal("applications[0].import_path", e.Loc);
        Assert.Equal("import_path must be at most 512 characters long (got 608 characters)", e.Msg);
    }

    [Fact]
    public void ErrorsAreCapped_WithACountOfTheRest()
    {
        var keys = string.Join("\n", Enumerable.Range(0, 150).Select(i => $"zz{i}: 1"));
        var result = Validate(keys + "\napplications: []");
        Assert.Equal(101, result.Errors.Count);
        Assert.Equal(new ConfigError("", "50 more errors not listed (at most 100 are)"), result.Errors[^1]);
    }

    [Fact]
    public void HugeUnknownKey_IsReportedClipped_AndQuickly()
    {
        var key = new string('k', 500_000);
        var e = SingleError($$"""{"{{key}}": 1, "applications": []}""");
        Assert.True(e.Loc.Length < 200 && e.Msg.Length < 1000, e.Loc);
        Assert.Contains("(500000 characters)", e.Msg);
    }
}
