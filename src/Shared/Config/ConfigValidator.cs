using System.Text.Json.Nodes;
using ServeAspire.Runtime;

namespace ServeAspire.Config;

/// <summary>
/// Validates a ServeDeploySchema field by field (Ray's rules, see shared/RAY-REST.md) and resolves
/// each deployment's effective options. Differs from Ray on purpose: unknown keys are rejected
/// (with a did-you-mean when they look like a typo), Ray keys that mean nothing here are accepted
/// and reported as ignored, and an import_path naming no .NET deployment class is an error.
/// A config is hostile until validated: every number is range-checked against <see cref="ConfigLimits"/>
/// and fixed field ranges (never clamped), and what messages echo is clipped.
/// </summary>
public sealed partial class ConfigValidator
{
    private static readonly string[] TopKeys = ["applications", "http_options", "proxy_location", "grpc_options", "logging_config", "target_capacity", "deploy_mode"];
    private static readonly HashSet<string> TopIgnored = ["grpc_options", "logging_config", "proxy_location", "target_capacity", "deploy_mode"];
    private static readonly string[] HttpKeys = ["host", "port", "root_path", "request_timeout_s", "keep_alive_timeout_s", "ssl_keyfile", "ssl_certfile", "ssl_keyfile_password", "ssl_ca_certs"];
    private static readonly HashSet<string> HttpIgnored = ["host", "port", "root_path", "keep_alive_timeout_s", "ssl_keyfile", "ssl_certfile", "ssl_keyfile_password", "ssl_ca_certs"];
    private static readonly string[] AppKeys = ["name", "route_prefix", "import_path", "runtime_env", "deployments", "args", "logging_config", "external_scaler_enabled", "autoscaling_policy", "host", "port", "docs_path"];
    private static readonly HashSet<string> AppIgnored = ["args", "logging_config", "external_scaler_enabled", "autoscaling_policy", "docs_path"];
    private static readonly string[] ProxyLocations = ["Disabled", "HeadOnly", "EveryNode"];

    private readonly IDeploymentResolver _resolver;
    private readonly ConfigLimits _limits;
    private readonly List<ConfigError> _errors = [];
    private readonly List<string> _ignored = [];
    private int _errorCount;

    private ConfigValidator(IDeploymentResolver resolver, ConfigLimits limits)
    {
        _resolver = resolver;
        _limits = limits;
    }

    /// <summary>Parses and validates within <see cref="ConfigLimits.Default"/>.</summary>
    public static ConfigValidationResult Validate(string text, IDeploymentResolver resolver) => Validate(text, resolver, ConfigLimits.Default);

    public static ConfigValidationResult Validate(string text, IDeploymentResolver resolver, ConfigLimits limits)
    {
        var node = ConfigDocument.Parse(text, limits, out var error);
        if (error is not null) return new ConfigValidationResult(null, [error], []);
        return new ConfigValidator(resolver, limits).Run(node);
    }

    /// <summary>Validates a parsed tree within <see cref="ConfigLimits.Default"/>.</summary>
    public static ConfigValidationResult Validate(JsonNode? node, IDeploymentResolver resolver) => Validate(node, resolver, ConfigLimits.Default);

    /// <summary>Validates a parsed tree; one that did not come from <see cref="ConfigDocument"/> is bounds-checked first.</summary>
    public static ConfigValidationResult Validate(JsonNode? node, IDeploymentResolver resolver, ConfigLimits limits)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        ArgumentNullException.ThrowIfNull(limits);
        if (ConfigDocument.CheckBounds(node, limits) is { } error) return new ConfigValidationResult(null, [error], []);
        return new ConfigValidator(resolver, limits).Run(node);
    }

    private ConfigValidationResult Run(JsonNode? root)
    {
        if (root is not JsonObject top)
        {
            Error("", "the config must be a mapping with an 'applications' list");
            return Result(null);
        }
        CheckKeys(top, "", TopKeys, TopIgnored);

        if (top["proxy_location"] is { } pl && (Str(pl, "proxy_location") is not { } plv || !ProxyLocations.Contains(plv)))
            Error("proxy_location", $"must be one of {string.Join(", ", ProxyLocations)}");
        if (top["target_capacity"] is { } tc) Number(tc, "target_capacity", FieldRanges.TargetCapacity);

        var http = ValidateHttp(top["http_options"]);

        var apps = new List<ApplicationConfig>();
        if (!top.ContainsKey("applications"))
            Error("applications", "field required");
        else if (top["applications"] is not JsonArray appArray)
            Error("applications", $"must be a list, got {ConfigText.Show(top["applications"])}");
        else if (appArray.Count > _limits.MaxApplications)
            // Not validated one by one: each costs an import_path resolution.
            Error("applications", $"must list between 0 and {_limits.MaxApplications} applications (got {appArray.Count})");
        else
        {
            for (var i = 0; i < appArray.Count; i++)
                if (ValidateApp(appArray[i], $"applications[{i}]") is { } app) apps.Add(app);
            CheckUnique(apps);
            CheckReplicaTotal(apps);
        }
        return Result(_errorCount == 0 ? new ServeDeployConfig(http, apps) : null);
    }

    private ConfigValidationResult Result(ServeDeployConfig? config)
    {
        var errors = _errors.ToList();
        if (_errorCount > errors.Count)
            errors.Add(new ConfigError("", $"{_errorCount - errors.Count} more errors not listed (at most {_limits.MaxErrors} are)"));
        return new ConfigValidationResult(config, errors, _ignored.ToList());
    }

    private HttpOptionsConfig ValidateHttp(JsonNode? node)
    {
        if (node is null) return HttpOptionsConfig.Default;
        if (node is not JsonObject obj)
        {
            Error("http_options", $"must be a mapping, got {ConfigText.Show(node)}");
            return HttpOptionsConfig.Default;
        }
        CheckKeys(obj, "http_options", HttpKeys, HttpIgnored);
        var host = obj["host"] is { } h ? Str(h, "http_options.host") ?? "127.0.0.1" : "127.0.0.1";
        var port = IntOption(obj, "http_options", "port", 8000, FieldRanges.Port);
        double? timeout = obj["request_timeout_s"] is { } t ? Number(t, "http_options.request_timeout_s", FieldRanges.RequestTimeoutSeconds) : null;
        if (obj["ssl_certfile"] is not null != obj["ssl_keyfile"] is not null)
            Error("http_options.ssl_certfile", "Both ssl_keyfile and ssl_certfile must be provided together to enable HTTPS.");
        return new HttpOptionsConfig(host, port, timeout);
    }

    private ApplicationConfig? ValidateApp(JsonNode? node, string loc)
    {
        if (node is not JsonObject obj)
        {
            Error(loc, $"must be a mapping, got {ConfigText.Show(node)}");
            return null;
        }
        var before = _errorCount;
        CheckKeys(obj, loc, AppKeys, AppIgnored);
        var name = obj.ContainsKey("name") ? Str(obj["name"], $"{loc}.name") : "default";
        if (name is not null && string.IsNullOrWhiteSpace(name))
            Error($"{loc}.name", "Application names must be nonempty.");
        else if (name is not null)
            CheckName(name, $"{loc}.name");
        foreach (var key in new[] { "host", "port" })
            if (obj.ContainsKey(key))
                Error($"{loc}.{key}", $"{(key == "host" ? "Host" : "Port")} {ConfigText.Show(obj[key])} is set in the config for application `{ConfigText.Clip(name ?? "")}`. Please remove it and set {key} in the top level deploy config only.");

        string? routePrefix = "/";
        if (obj.ContainsKey("route_prefix"))
        {
            routePrefix = obj["route_prefix"] is null ? null : Str(obj["route_prefix"], $"{loc}.route_prefix");
            if (routePrefix is not null) CheckRoutePrefix(routePrefix, $"{loc}.route_prefix");
        }

        DeploymentClassInfo? cls = null;
        string? importPath = null;
        if (!obj.ContainsKey("import_path"))
            Error($"{loc}.import_path", "field required");
        else if ((importPath = Str(obj["import_path"], $"{loc}.import_path")) is not null)
        {
            if (ImportPath.FormatError(importPath) is { } formatError)
                Error($"{loc}.import_path", formatError);
            else if ((cls = _resolver.Resolve(importPath, out var resolveError)) is null)
                Error($"{loc}.import_path", resolveError ?? $"'{ConfigText.Clip(importPath)}' names no deployment class");
        }

        var overrides = new List<(JsonObject Obj, string Loc)>();
        if (obj["deployments"] is { } deps)
        {
            if (deps is not JsonArray depArray) Error($"{loc}.deployments", $"must be a list, got {ConfigText.Show(deps)}");
            else
                for (var i = 0; i < depArray.Count; i++)
                {
                    var dloc = $"{loc}.deployments[{i}]";
                    if (depArray[i] is JsonObject d) overrides.Add((d, dloc));
                    else Error(dloc, $"must be a mapping, got {ConfigText.Show(depArray[i])}");
                }
        }

        var envVars = RuntimeEnv(obj["runtime_env"], $"{loc}.runtime_env");
        DeploymentSpec? spec = null;
        if (cls is not null)
        {
            // One deployment per application: the class named by import_path (its ingress).
            JsonObject? ov = null;
            string ovLoc = $"{loc}.deployments";
            foreach (var (d, dloc) in overrides)
            {
                if (!d.ContainsKey("name"))
                {
                    Error($"{dloc}.name", "field required");
                    continue;
                }
                var errorsBefore = _errorCount;
                var dname = Str(d["name"], $"{dloc}.name");
                if (dname is not null) CheckName(dname, $"{dloc}.name");
                if (dname is null || _errorCount != errorsBefore) continue;
                if (dname != cls.DeploymentName)
                    Error($"{dloc}.name", $"application '{ConfigText.Clip(name ?? "")}' has no deployment named '{ConfigText.Clip(dname)}'; its deployment is '{cls.DeploymentName}'");
                else if (ov is not null)
                    Error($"{dloc}.name", $"deployment '{ConfigText.Clip(dname)}' is listed twice");
                else { ov = d; ovLoc = dloc; }
            }
            spec = ResolveDeployment(cls, ov, ovLoc, envVars);
        }
        else
            foreach (var (d, dloc) in overrides) CheckKeys(d, dloc, DeploymentKeys, DeploymentIgnored);

        if (_errorCount != before || name is null || importPath is null || spec is null) return null;
        return new ApplicationConfig(name, routePrefix, importPath, [spec], (JsonObject)obj.DeepClone());
    }

    private void CheckRoutePrefix(string prefix, string loc)
    {
        if (prefix.Length > _limits.MaxRoutePrefixLength)
            Error(loc, $"route_prefix must be at most {_limits.MaxRoutePrefixLength} characters long (got {prefix.Length} characters)");
        else if (prefix.Any(char.IsControl))
            Error(loc, $"route_prefix must not contain control characters, got \"{ConfigText.Clip(prefix)}\"");
        else if (!prefix.StartsWith('/'))
            Error(loc, $"route_prefix must start with '/', got \"{prefix}\"");
        else if (prefix.Length > 1 && prefix.EndsWith('/'))
            Error(loc, $"route_prefix must not end with '/' unless it is '/', got \"{prefix}\"");
        else if (prefix.Contains('{') || prefix.Contains('}'))
            Error(loc, $"route_prefix may not contain wildcards '{{' or '}}', got \"{prefix}\"");
    }

    private void CheckUnique(List<ApplicationConfig> apps)
    {
        foreach (var dup in apps.GroupBy(a => a.Name).Where(g => g.Count() > 1))
            Error("applications", $"Found multiple configs for application \"{ConfigText.Clip(dup.Key)}\". Please remove all duplicates.");
        foreach (var dup in apps.Where(a => a.RoutePrefix is not null).GroupBy(a => a.RoutePrefix).Where(g => g.Count() > 1))
            Error("applications", $"Found duplicate applications for route prefix \"{dup.Key}\". Please ensure each application's route_prefix is unique.");
    }

    /// <summary>Each deployment fits the cap on its own; together they must too, or the cluster is asked for more than it allows.</summary>
    private void CheckReplicaTotal(List<ApplicationConfig> apps)
    {
        var total = apps.Sum(a => a.Deployments.Sum(d => (long)d.NumReplicas));
        if (total > _limits.MaxReplicas)
            Error("applications", $"the applications ask for {total} replicas in total; at most {_limits.MaxReplicas} are allowed ({ReplicaCapRule})");
    }
}
