using ServeAspire.Config;
using ServeAspire.Runtime;

namespace ServeAspire.UnitTests.Config;

/// <summary>user_config, runtime_env.env_vars and the code version: what needs new replicas and what does not.</summary>
public sealed class DeploymentVersionTests
{
    private static ConfigValidationResult Validate(string deployment, string app = "") => ConfigValidator.Validate($$"""
        applications:
          - name: c
            import_path: Samples:Configurable
            {{app}}
            deployments: [ { name: Configurable, {{deployment}} } ]
        """, new DeploymentCatalog());

    private static DeploymentSpec Spec(string deployment, string app = "")
    {
        var result = Validate(deployment, app);
        Assert.True(result.IsValid, result.Summary);
        return result.Config!.Applications.Single().Deployments.Single();
    }

    [Fact]
    public void UserConfig_IsKeptAsJson_AndItsVersionFollowsItsContent()
    {
        var a = Spec("user_config: { message: hello }");
        var b = Spec("user_config: { message: bye }");
        Assert.Equal("""{"message":"hello"}""", a.UserConfig);
        Assert.NotEqual(a.UserConfigVersion, b.UserConfigVersion);
        Assert.Equal(a.UserConfigVersion, Spec("user_config: { message: hello }").UserConfigVersion);
        // user_config is applied in place: it is not part of the code version.
        Assert.Equal(a.CodeVersion, b.CodeVersion);
        Assert.Equal("", Spec("num_replicas: 1").UserConfigVersion);
    }

    [Fact]
    public void UserConfig_ForAClassWithoutReconfigure_IsRefused_NamingTheFieldAndTheInterface()
    {
        var result = ConfigValidator.Validate("""
            applications:
              - { name: s, import_path: "Samples:Slow", deployments: [ { name: Slow, user_config: { x: 1 } } ] }
            """, new DeploymentCatalog());
        Assert.False(result.IsValid);
        var error = Assert.Single(result.Errors);
        Assert.Equal("applications[0].deployments[0].user_config", error.Loc);
        Assert.Contains("IReconfigurable", error.Msg);
    }

    [Theory]
    [InlineData("user_config: [1, 2]", "must be a mapping")]
    [InlineData("user_config: 5", "must be a mapping")]
    public void UserConfig_ThatIsNotAMapping_IsRefused(string field, string message)
    {
        var result = Validate(field);
        Assert.False(result.IsValid);
        Assert.Contains(result.Errors, e => e.Loc.EndsWith(".user_config", StringComparison.Ordinal) && e.Msg.Contains(message));
    }

    [Fact]
    public void EnvVars_ChangeTheCodeVersion_OtherOptionsDoNot()
    {
        var baseline = Spec("num_replicas: 2", "runtime_env: { env_vars: { MODEL_VERSION: '1' } }");
        Assert.Equal("1", baseline.EnvVars!.Values["MODEL_VERSION"]);
        Assert.NotEqual(baseline.CodeVersion, Spec("num_replicas: 2", "runtime_env: { env_vars: { MODEL_VERSION: '2' } }").CodeVersion);
        // Lightweight options (Ray updates these without restarting replicas).
        var light = Spec("num_replicas: 5, max_ongoing_requests: 9, health_check_period_s: 3, graceful_shutdown_timeout_s: 7, user_config: { message: x }",
            "runtime_env: { env_vars: { MODEL_VERSION: '1' } }");
        Assert.Equal(baseline.CodeVersion, light.CodeVersion);
        Assert.Equal(baseline.CodeVersion, Spec("autoscaling_config: { min_replicas: 1, max_replicas: 3 }", "runtime_env: { env_vars: { MODEL_VERSION: '1' } }").CodeVersion);
        // Equal maps compare equal (the spec comparison decides whether anything changed).
        Assert.Equal(baseline, Spec("num_replicas: 2", "runtime_env: { env_vars: { MODEL_VERSION: '1' } }"));
    }

    [Theory]
    [InlineData("runtime_env: { env_vars: { DOTNET_gcServer: '1' } }", "env_vars.DOTNET_gcServer", "reserved")]
    [InlineData("runtime_env: { env_vars: { SERVE_AUTH_TOKEN: x } }", "env_vars.SERVE_AUTH_TOKEN", "reserved")]
    [InlineData("runtime_env: { env_vars: { LD_PRELOAD: /tmp/x.so } }", "env_vars.LD_PRELOAD", "reserved")]
    [InlineData("runtime_env: { env_vars: { PATH: /tmp } }", "env_vars.PATH", "reserved")]
    [InlineData("runtime_env: { env_vars: { '1BAD': x } }", "env_vars.1BAD", "not an environment variable name")]
    [InlineData("runtime_env: { env_vars: { 'A=B': x } }", "env_vars.A=B", "not an environment variable name")]
    [InlineData("runtime_env: { env_vars: { N: 5 } }", "env_vars.N", "must be a string")]
    [InlineData("runtime_env: { env_vars: [A] }", "runtime_env.env_vars", "must be a mapping")]
    [InlineData("runtime_env: 3", "runtime_env", "must be a mapping")]
    [InlineData("runtime_env: { env_varz: {} }", "runtime_env.env_varz", "")]
    public void BadRuntimeEnv_IsRefused_NamingTheField(string app, string locSuffix, string message)
    {
        var result = Validate("num_replicas: 1", app);
        Assert.False(result.IsValid);
        Assert.Contains(result.Errors, e => e.Loc.EndsWith(locSuffix, StringComparison.Ordinal) && e.Msg.Contains(message));
    }

    [Fact]
    public void EnvVars_AreBounded_InCountAndLength()
    {
        var many = string.Join(", ", Enumerable.Range(0, ConfigValidator.MaxEnvVars + 1).Select(i => $"V{i}: x"));
        Assert.Contains(Validate("num_replicas: 1", $"runtime_env: {{ env_vars: {{ {many} }} }}").Errors, e => e.Msg.Contains($"at most {ConfigValidator.MaxEnvVars}"));
        var longValue = new string('x', ConfigValidator.MaxEnvVarValueLength + 1);
        Assert.Contains(Validate("num_replicas: 1", $"runtime_env: {{ env_vars: {{ V: {longValue} }} }}").Errors, e => e.Msg.Contains($"at most {ConfigValidator.MaxEnvVarValueLength}"));
    }

    [Fact]
    public void OtherRuntimeEnvFields_AreIgnored_AndSaidSo()
    {
        var result = Validate("num_replicas: 1", "runtime_env: { working_dir: '.', pip: [x], env_vars: { A: b } }");
        Assert.True(result.IsValid, result.Summary);
        Assert.Contains("applications[0].runtime_env.working_dir", result.Ignored);
        Assert.Contains("applications[0].runtime_env.pip", result.Ignored);
    }

    [Fact]
    public void AssemblyContentHash_FollowsTheFileOnDisk()
    {
        // New code in the deployment folder is a new version even where the old assembly is loaded.
        var cls = new DeploymentCatalog().Resolve("Samples:Configurable", out var error);
        Assert.True(cls is not null, error);
        var location = cls.Type.Assembly.Location;
        Assert.Equal(DeploymentClassInfo.FileContentHash(location), cls.CodeHash);
        var dir = Directory.CreateTempSubdirectory("serve-hash-");
        try
        {
            var copy = Path.Combine(dir.FullName, "Samples.dll");
            File.Copy(location, copy);
            var before = DeploymentClassInfo.FileContentHash(copy);
            Assert.Equal(cls.CodeHash, before);
            File.AppendAllText(copy, "new build");
            var after = DeploymentClassInfo.FileContentHash(copy);
            Assert.NotNull(after);
            Assert.NotEqual(before, after);
            Assert.NotEqual(DeploymentVersion.Code("Samples:Configurable", before!, EnvVarMap.Empty), DeploymentVersion.Code("Samples:Configurable", after, EnvVarMap.Empty));
            Assert.Null(DeploymentClassInfo.FileContentHash(Path.Combine(dir.FullName, "missing.dll")));
        }
        finally { dir.Delete(true); }
    }
}
