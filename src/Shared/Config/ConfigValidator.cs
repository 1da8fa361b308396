using System.Text.Json;
using System.Text.Json.Nodes;
using ServeAspire.Runtime;

namespace ServeAspire.Config;

/// <summary>
/// Validates a ServeDeploySchema field by field (Ray's rules, see shared/RAY-REST.md) and resolves
/// each deployment's effective options. Differs from Ray on purpose: unknown keys are rejected
/// (with a did-you-mean when they look like a typo), Ray keys that mean nothing here are accepted
/// and reported as ignored, and an import_path naming no .NET deployment class is an error.
/// </summary>
public sealed class ConfigValidator(IDeploymentResolver resolver)
{
    private static readonly string[] TopKeys = ["applications", "http_options", "proxy_location", "grpc_options", "logging_config", "target_capacity", "deploy_mode"];
    private static readonly HashSet<string> TopIgnored = ["grpc_options", "logging_config", "proxy_location", "target_capacity", "deploy_mode"];
    private static readonly string[] HttpKeys = ["host", "port", "root_path", "request_timeout_s", "keep_alive_timeout_s", "ssl_keyfile", "ssl_certfile", "ssl_keyfile_password", "ssl_ca_certs"];
    private static readonly HashSet<string> HttpIgnored = ["host", "port", "root_path", "keep_alive_timeout_s", "ssl_keyfile", "ssl_certfile", "ssl_keyfile_password", "ssl_ca_certs"];
    private static readonly string[] AppKeys = ["name", "route_prefix", "import_path", "runtime_env", "deployments", "args", "logging_config", "external_scaler_enabled", "autoscaling_policy", "host", "port", "docs_path"];
    private static readonly HashSet<string> AppIgnored = ["runtime_env", "args", "logging_config", "external_scaler_enabled", "autoscaling_policy", "docs_path"];
    private static readonly string[] DeploymentKeys =
    [
        "name", "num_replicas", "max_ongoing_requests", "max_queued_requests", "user_config", "autoscaling_config",
        "graceful_shutdown_wait_loop_s", "graceful_shutdown_timeout_s", "health_check_period_s", "health_check_timeout_s",
        "ray_actor_options", "placement_group_bundles", "placement_group_strategy", "placement_group_bundle_label_selector",
        "max_replicas_per_node", "logging_config", "request_router_config", "gang_scheduling_config", "route_prefix",
        "retry_on_failure", "max_constructor_retry_count",
    ];
    private static readonly HashSet<string> DeploymentIgnored =
    [
        "user_config", "autoscaling_config", "ray_actor_options", "placement_group_bundles", "placement_group_strategy",
        "placement_group_bundle_label_selector", "logging_config", "request_router_config", "gang_scheduling_config", "route_prefix",
    ];
    private static readonly string[] ProxyLocations = ["Disabled", "HeadOnly", "EveryNode"];

    private readonly List<ConfigError> _errors = [];
    private readonly List<string> _ignored = [];

    public static ConfigValidationResult Validate(string text, IDeploymentResolver resolver)
    {
        var node = ConfigDocument.Parse(text, out var error);
        if (error is not null) return new ConfigValidationResult(null, [error], []);
        return new ConfigValidator(resolver).Run(node);
    }

    public static ConfigValidationResult Validate(JsonNode? node, IDeploymentResolver resolver) => new ConfigValidator(resolver).Run(node);

    private ConfigValidationResult Run(JsonNode? root)
    {
        if (root is not JsonObject top)
        {
            _errors.Add(new ConfigError("", "the config must be a mapping with an 'applications' list"));
            return Result(null);
        }
        CheckKeys(top, "", TopKeys, TopIgnored);

        if (top["proxy_location"] is { } pl && (Str(pl, "proxy_location") is not { } plv || !ProxyLocations.Contains(plv)))
            _errors.Add(new ConfigError("proxy_location", $"must be one of {string.Join(", ", ProxyLocations)}"));
        if (top["target_capacity"] is { } tc && Num(tc, "target_capacity") is { } tcv && (tcv < 0 || tcv > 100))
            _errors.Add(new ConfigError("target_capacity", "must be between 0 and 100"));

        var http = ValidateHttp(top["http_options"]);

        var apps = new List<ApplicationConfig>();
        if (!top.ContainsKey("applications"))
            _errors.Add(new ConfigError("applications", "field required"));
        else if (top["applications"] is not JsonArray appArray)
            _errors.Add(new ConfigError("applications", "must be a list"));
        else
        {
            for (var i = 0; i < appArray.Count; i++)
                if (ValidateApp(appArray[i], $"applications[{i}]") is { } app) apps.Add(app);
            CheckUnique(apps);
        }
        return Result(_errors.Count == 0 ? new ServeDeployConfig(http, apps) : null);
    }

    private ConfigValidationResult Result(ServeDeployConfig? config) => new(config, _errors.ToList(), _ignored.ToList());

    private HttpOptionsConfig ValidateHttp(JsonNode? node)
    {
        if (node is null) return HttpOptionsConfig.Default;
        if (node is not JsonObject obj)
        {
            _errors.Add(new ConfigError("http_options", "must be a mapping"));
            return HttpOptionsConfig.Default;
        }
        CheckKeys(obj, "http_options", HttpKeys, HttpIgnored);
        var host = obj["host"] is { } h ? Str(h, "http_options.host") ?? "127.0.0.1" : "127.0.0.1";
        var port = obj["port"] is { } p ? Int(p, "http_options.port") ?? 8000 : 8000;
        if (port is < 1 or > 65535) _errors.Add(new ConfigError("http_options.port", "must be between 1 and 65535"));
        double? timeout = null;
        if (obj["request_timeout_s"] is { } t && Num(t, "http_options.request_timeout_s") is { } tv)
        {
            if (tv <= 0) _errors.Add(new ConfigError("http_options.request_timeout_s", "must be greater than 0"));
            timeout = tv;
        }
        if (obj["ssl_certfile"] is not null != obj["ssl_keyfile"] is not null)
            _errors.Add(new ConfigError("http_options.ssl_certfile", "Both ssl_keyfile and ssl_certfile must be provided together to enable HTTPS."));
        return new HttpOptionsConfig(host, port, timeout);
    }

    private ApplicationConfig? ValidateApp(JsonNode? node, string loc)
    {
        if (node is not JsonObject obj)
        {
            _errors.Add(new ConfigError(loc, "must be a mapping"));
            return null;
        }
        var before = _errors.Count;
        CheckKeys(obj, loc, AppKeys, AppIgnored);
        var name = obj.ContainsKey("name") ? Str(obj["name"], $"{loc}.name") : "default";
        if (name is not null && string.IsNullOrWhiteSpace(name))
            _errors.Add(new ConfigError($"{loc}.name", "Application names must be nonempty."));
        foreach (var key in new[] { "host", "port" })
            if (obj.ContainsKey(key))
                _errors.Add(new ConfigError($"{loc}.{key}", $"{(key == "host" ? "Host" : "Port")} {obj[key]?.ToJsonString()} is set in the config for application `{name}`. Please remove it and set {key} in the top level deploy config only."));

        string? routePrefix = "/";
        if (obj.ContainsKey("route_prefix"))
        {
            routePrefix = obj["route_prefix"] is null ? null : Str(obj["route_prefix"], $"{loc}.route_prefix");
            if (routePrefix is not null) CheckRoutePrefix(routePrefix, $"{loc}.route_prefix");
        }

        DeploymentClassInfo? cls = null;
        string? importPath = null;
        if (!obj.ContainsKey("import_path"))
            _errors.Add(new ConfigError($"{loc}.import_path", "field required"));
        else if ((importPath = Str(obj["import_path"], $"{loc}.import_path")) is not null)
        {
            if (ImportPath.FormatError(importPath) is { } formatError)
                _errors.Add(new ConfigError($"{loc}.import_path", formatError));
            else if ((cls = resolver.Resolve(importPath, out var resolveError)) is null)
                _errors.Add(new ConfigError($"{loc}.import_path", resolveError ?? $"'{importPath}' names no deployment class"));
        }

        var overrides = new List<(JsonObject Obj, string Loc)>();
        if (obj["deployments"] is { } deps)
        {
            if (deps is not JsonArray depArray) _errors.Add(new ConfigError($"{loc}.deployments", "must be a list"));
            else
                for (var i = 0; i < depArray.Count; i++)
                {
                    var dloc = $"{loc}.deployments[{i}]";
                    if (depArray[i] is JsonObject d) overrides.Add((d, dloc));
                    else _errors.Add(new ConfigError(dloc, "must be a mapping"));
                }
        }

        DeploymentSpec? spec = null;
        if (cls is not null)
        {
            // One deployment per application: the class named by import_path (its ingress).
            JsonObject? ov = null;
            string ovLoc = $"{loc}.deployments";
            foreach (var (d, dloc) in overrides)
            {
                var dname = d.ContainsKey("name") ? Str(d["name"], $"{dloc}.name") : null;
                if (!d.ContainsKey("name")) _errors.Add(new ConfigError($"{dloc}.name", "field required"));
                else if (dname is not null && dname != cls.DeploymentName)
                    _errors.Add(new ConfigError($"{dloc}.name", $"application '{name}' has no deployment named '{dname}'; its deployment is '{cls.DeploymentName}'"));
                else if (ov is not null)
                    _errors.Add(new ConfigError($"{dloc}.name", $"deployment '{dname}' is listed twice"));
                else { ov = d; ovLoc = dloc; }
            }
            spec = ResolveDeployment(cls, ov, ovLoc);
        }
        else
            foreach (var (d, dloc) in overrides) CheckKeys(d, dloc, DeploymentKeys, DeploymentIgnored);

        if (_errors.Count != before || name is null || importPath is null || spec is null) return null;
        return new ApplicationConfig(name, routePrefix, importPath, [spec], (JsonObject)obj.DeepClone());
    }

    private DeploymentSpec ResolveDeployment(DeploymentClassInfo cls, JsonObject? ov, string loc)
    {
        var a = cls.Defaults;
        if (ov is not null) CheckKeys(ov, loc, DeploymentKeys, DeploymentIgnored);

        int numReplicas = a.NumReplicas > 0 ? a.NumReplicas : DeploymentSpec.DefaultNumReplicas;
        if (ov?["num_replicas"] is { } nr)
        {
            if (nr.GetValueKind() == JsonValueKind.String && nr.GetValue<string>() == "auto")
            {
                // No autoscaler yet: run the autoscaling minimum (Ray's "auto" default min is 1).
                numReplicas = ov["autoscaling_config"]?["initial_replicas"] is JsonValue iv && iv.TryGetValue<long>(out var init) ? (int)init
                    : ov["autoscaling_config"]?["min_replicas"] is JsonValue mv && mv.TryGetValue<long>(out var min) ? (int)min : 1;
                _ignored.Add($"{loc}.num_replicas (\"auto\": autoscaling is not implemented; running {numReplicas} replica(s))");
            }
            else if (nr.GetValueKind() != JsonValueKind.Number || !nr.AsValue().TryGetValue<long>(out var n))
                _errors.Add(new ConfigError($"{loc}.num_replicas", $"`num_replicas` must be an int or \"auto\", but got: {nr.ToJsonString()}"));
            else if (n <= 0)
                _errors.Add(new ConfigError($"{loc}.num_replicas", $"must be greater than 0 (got {n})"));
            else if (ov["autoscaling_config"] is not null)
                _errors.Add(new ConfigError($"{loc}.num_replicas", "Manually setting num_replicas is not allowed when autoscaling_config is provided."));
            else numReplicas = (int)Math.Min(n, 10_000);
        }

        var maxOngoing = IntOption(ov, loc, "max_ongoing_requests", a.MaxOngoingRequests > 0 ? a.MaxOngoingRequests : DeploymentSpec.DefaultMaxOngoingRequests, v => v > 0, "must be greater than 0");
        var maxQueued = IntOption(ov, loc, "max_queued_requests", a.MaxQueuedRequests >= -1 && a.MaxQueuedRequests != 0 ? a.MaxQueuedRequests : DeploymentSpec.DefaultMaxQueuedRequests, v => v == -1 || v >= 1, "must be -1 (no limit) or at least 1");
        var period = NumOption(ov, loc, "health_check_period_s", Or(a.HealthCheckPeriodS, DeploymentSpec.DefaultHealthCheckPeriodS), v => v > 0, "must be greater than 0");
        var timeout = NumOption(ov, loc, "health_check_timeout_s", Or(a.HealthCheckTimeoutS, DeploymentSpec.DefaultHealthCheckTimeoutS), v => v > 0, "must be greater than 0");
        var gTimeout = NumOption(ov, loc, "graceful_shutdown_timeout_s", Or(a.GracefulShutdownTimeoutS, DeploymentSpec.DefaultGracefulShutdownTimeoutS), v => v >= 0, "must be greater than or equal to 0");
        var gLoop = NumOption(ov, loc, "graceful_shutdown_wait_loop_s", Or(a.GracefulShutdownWaitLoopS, DeploymentSpec.DefaultGracefulShutdownWaitLoopS), v => v >= 0, "must be greater than or equal to 0");
        int? perNode = a.MaxReplicasPerNode > 0 ? a.MaxReplicasPerNode : null;
        if (ov?["max_replicas_per_node"] is { } mrpn && mrpn.GetValueKind() != JsonValueKind.Null)
        {
            perNode = IntOption(ov, loc, "max_replicas_per_node", 1, v => v is >= 1 and <= 100, "must be between 1 and 100");
            if (ov["placement_group_bundles"] is not null)
                _errors.Add(new ConfigError($"{loc}.max_replicas_per_node", "Setting max_replicas_per_node is not allowed when placement_group_bundles is provided."));
        }
        var ctorRetries = IntOption(ov, loc, "max_constructor_retry_count", a.MaxConstructorRetryCount > 0 ? a.MaxConstructorRetryCount : DeploymentSpec.DefaultMaxConstructorRetryCount, v => v >= 1, "must be at least 1");
        var retry = a.RetryOnFailure;
        if (ov?["retry_on_failure"] is { } rof)
        {
            if (rof.GetValueKind() is JsonValueKind.True or JsonValueKind.False) retry = rof.GetValue<bool>();
            else _errors.Add(new ConfigError($"{loc}.retry_on_failure", "must be true or false"));
        }
        return new DeploymentSpec(cls.DeploymentName, cls.ImportPath, numReplicas, maxOngoing, maxQueued, period, timeout, gTimeout, gLoop, perNode, ctorRetries, retry);
    }

    private static double Or(double value, double fallback) => double.IsNaN(value) || value < 0 ? fallback : value;

    private int IntOption(JsonObject? ov, string loc, string key, int fallback, Func<long, bool> ok, string rule)
    {
        if (ov?[key] is not { } v || v.GetValueKind() == JsonValueKind.Null) return fallback;
        if (v.GetValueKind() != JsonValueKind.Number || !v.AsValue().TryGetValue<long>(out var n))
        {
            _errors.Add(new ConfigError($"{loc}.{key}", $"must be an integer, got {v.ToJsonString()}"));
            return fallback;
        }
        if (!ok(n) || n > int.MaxValue)
        {
            _errors.Add(new ConfigError($"{loc}.{key}", $"{rule} (got {n})"));
            return fallback;
        }
        return (int)n;
    }

    private double NumOption(JsonObject? ov, string loc, string key, double fallback, Func<double, bool> ok, string rule)
    {
        if (ov?[key] is not { } v || v.GetValueKind() == JsonValueKind.Null) return fallback;
        if (Num(v, $"{loc}.{key}") is not { } d) return fallback;
        if (!ok(d))
        {
            _errors.Add(new ConfigError($"{loc}.{key}", $"{rule} (got {d})"));
            return fallback;
        }
        return d;
    }

    private void CheckRoutePrefix(string prefix, string loc)
    {
        if (!prefix.StartsWith('/'))
            _errors.Add(new ConfigError(loc, $"route_prefix must start with '/', got \"{prefix}\""));
        else if (prefix.Length > 1 && prefix.EndsWith('/'))
            _errors.Add(new ConfigError(loc, $"route_prefix must not end with '/' unless it is '/', got \"{prefix}\""));
        else if (prefix.Contains('{') || prefix.Contains('}'))
            _errors.Add(new ConfigError(loc, $"route_prefix may not contain wildcards '{{' or '}}', got \"{prefix}\""));
    }

    private void CheckUnique(List<ApplicationConfig> apps)
    {
        foreach (var dup in apps.GroupBy(a => a.Name).Where(g => g.Count() > 1))
            _errors.Add(new ConfigError("applications", $"Found multiple configs for application \"{dup.Key}\". Please remove all duplicates."));
        foreach (var dup in apps.Where(a => a.RoutePrefix is not null).GroupBy(a => a.RoutePrefix).Where(g => g.Count() > 1))
            _errors.Add(new ConfigError("applications", $"Found duplicate applications for route prefix \"{dup.Key}\". Please ensure each application's route_prefix is unique."));
    }

    private void CheckKeys(JsonObject obj, string loc, string[] known, HashSet<string> ignored)
    {
        foreach (var (key, _) in obj)
        {
            var path = loc.Length == 0 ? key : $"{loc}.{key}";
            if (!known.Contains(key))
            {
                var suggestion = Suggest(key, known);
                _errors.Add(new ConfigError(path, suggestion is null
                    ? $"unknown field '{key}'; known fields here: {string.Join(", ", known)}"
                    : $"unknown field '{key}'; did you mean '{suggestion}'?"));
            }
            else if (ignored.Contains(key))
                _ignored.Add(path);
        }
    }

    /// <summary>The known key closest to a typo, if it is close enough to be one.</summary>
    internal static string? Suggest(string key, IEnumerable<string> known)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var k in known)
        {
            var d = Levenshtein(key.ToLowerInvariant(), k);
            if (d < bestDistance) (best, bestDistance) = (k, d);
        }
        var limit = Math.Max(2, key.Length / 4);
        return bestDistance <= limit ? best : null;
    }

    private static int Levenshtein(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++) prev[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (var j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }

    private string? Str(JsonNode? node, string loc)
    {
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.String) return v.GetValue<string>();
        _errors.Add(new ConfigError(loc, $"must be a string, got {node?.ToJsonString() ?? "null"}"));
        return null;
    }

    private int? Int(JsonNode? node, string loc)
    {
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<long>(out var l) && l is >= int.MinValue and <= int.MaxValue) return (int)l;
        _errors.Add(new ConfigError(loc, $"must be an integer, got {node?.ToJsonString() ?? "null"}"));
        return null;
    }

    private double? Num(JsonNode? node, string loc)
    {
        // Numbers come JSON-backed (from JSON) or as long/double (from YAML): accept each.
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.Number)
        {
            if (v.TryGetValue<double>(out var d)) return d;
            if (v.TryGetValue<long>(out var l)) return l;
        }
        _errors.Add(new ConfigError(loc, $"must be a number, got {node?.ToJsonString() ?? "null"}"));
        return null;
    }
}
