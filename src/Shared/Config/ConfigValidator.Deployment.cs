using System.Text.Json;
using System.Text.Json.Nodes;
using ServeAspire.Runtime;

namespace ServeAspire.Config;

// One deployment's effective options: config, else the class's [Deployment] attribute, else Serve's default.
public sealed partial class ConfigValidator
{
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
        "ray_actor_options", "placement_group_bundles", "placement_group_strategy",
        "placement_group_bundle_label_selector", "logging_config", "request_router_config", "gang_scheduling_config", "route_prefix",
    ];
    private static readonly string[] AutoscalingKeys =
    [
        "min_replicas", "max_replicas", "initial_replicas", "target_ongoing_requests",
        "upscale_delay_s", "downscale_delay_s", "look_back_period_s", "metrics_interval_s",
        "upscaling_factor", "downscaling_factor", "upscale_smoothing_factor", "downscale_smoothing_factor",
    ];
    private static readonly string[] AutoscalingSeconds = ["upscale_delay_s", "downscale_delay_s", "look_back_period_s", "metrics_interval_s"];
    private static readonly string[] AutoscalingFactors = ["upscaling_factor", "downscaling_factor", "upscale_smoothing_factor", "downscale_smoothing_factor"];

    /// <summary>Ray's max_replicas for num_replicas "auto" (AutoscalingConfig.default()); 1 otherwise.</summary>
    private const int AutoDefaultMaxReplicas = 100;

    private string ReplicaCapRule => $"the cluster's replica cap, {ConfigLimits.MaxReplicasSetting}";

    private DeploymentSpec ResolveDeployment(DeploymentClassInfo cls, JsonObject? ov, string loc, EnvVarMap envVars)
    {
        var a = cls.Defaults;
        if (ov is not null) CheckKeys(ov, loc, DeploymentKeys, DeploymentIgnored);

        var numReplicas = ResolveNumReplicas(a.NumReplicas > 0 ? a.NumReplicas : DeploymentSpec.DefaultNumReplicas, ov, loc, out var autoscaling);
        var maxOngoing = IntOption(ov, loc, "max_ongoing_requests", a.MaxOngoingRequests > 0 ? a.MaxOngoingRequests : DeploymentSpec.DefaultMaxOngoingRequests, FieldRanges.MaxOngoingRequests);
        var maxQueued = IntOption(ov, loc, "max_queued_requests", a.MaxQueuedRequests >= -1 && a.MaxQueuedRequests != 0 ? a.MaxQueuedRequests : DeploymentSpec.DefaultMaxQueuedRequests, FieldRanges.MaxQueuedRequests);
        var period = NumOption(ov, loc, "health_check_period_s", Or(a.HealthCheckPeriodS, DeploymentSpec.DefaultHealthCheckPeriodS), FieldRanges.HealthCheckSeconds);
        var timeout = NumOption(ov, loc, "health_check_timeout_s", Or(a.HealthCheckTimeoutS, DeploymentSpec.DefaultHealthCheckTimeoutS), FieldRanges.HealthCheckSeconds);
        var gTimeout = NumOption(ov, loc, "graceful_shutdown_timeout_s", Or(a.GracefulShutdownTimeoutS, DeploymentSpec.DefaultGracefulShutdownTimeoutS), FieldRanges.GracefulShutdownSeconds);
        var gLoop = NumOption(ov, loc, "graceful_shutdown_wait_loop_s", Or(a.GracefulShutdownWaitLoopS, DeploymentSpec.DefaultGracefulShutdownWaitLoopS), FieldRanges.GracefulShutdownSeconds);
        int? perNode = a.MaxReplicasPerNode > 0 ? a.MaxReplicasPerNode : null;
        if (ov?["max_replicas_per_node"] is { } mrpn && mrpn.GetValueKind() != JsonValueKind.Null)
        {
            perNode = IntOption(ov, loc, "max_replicas_per_node", 1, FieldRanges.MaxReplicasPerNode);
            if (ov["placement_group_bundles"] is not null)
                Error($"{loc}.max_replicas_per_node", "Setting max_replicas_per_node is not allowed when placement_group_bundles is provided.");
        }
        var ctorRetries = IntOption(ov, loc, "max_constructor_retry_count", a.MaxConstructorRetryCount > 0 ? a.MaxConstructorRetryCount : DeploymentSpec.DefaultMaxConstructorRetryCount, FieldRanges.MaxConstructorRetryCount);
        var retry = a.RetryOnFailure;
        if (ov?["retry_on_failure"] is { } rof)
        {
            if (rof.GetValueKind() is JsonValueKind.True or JsonValueKind.False) retry = rof.GetValue<bool>();
            else Error($"{loc}.retry_on_failure", $"must be true or false, got {ConfigText.Show(rof)}");
        }
        var userConfig = UserConfig(cls, ov, loc);
        return new DeploymentSpec(cls.DeploymentName, cls.ImportPath, numReplicas, maxOngoing, maxQueued, period, timeout, gTimeout, gLoop, perNode, ctorRetries, retry, autoscaling,
            DeploymentVersion.Code(cls.ImportPath, cls.CodeHash, envVars), userConfig, envVars);
    }

    /// <summary>
    /// user_config: a mapping (Ray's Dict), only for a class that can take it (<see cref="IReconfigurable"/>);
    /// kept as JSON text, given to every replica's ReconfigureAsync.
    /// </summary>
    private string? UserConfig(DeploymentClassInfo cls, JsonObject? ov, string loc)
    {
        if (ov?["user_config"] is not { } uc || uc.GetValueKind() == JsonValueKind.Null) return null;
        if (uc is not JsonObject)
        {
            Error($"{loc}.user_config", $"must be a mapping, got {ConfigText.Show(uc)}");
            return null;
        }
        if (!cls.IsReconfigurable)
        {
            Error($"{loc}.user_config", $"user_config specified but deployment '{cls.DeploymentName}' ({cls.Type.FullName}) has no reconfigure method: implement {nameof(IReconfigurable)} to take a user_config");
            return null;
        }
        return uc.ToJsonString();
    }

    private static double Or(double value, double fallback) => double.IsNaN(value) || value < 0 ? fallback : value;

    /// <summary>
    /// num_replicas: an int within the cluster cap (never clamped), or "auto" / absent with a valid
    /// autoscaling_config (then <paramref name="autoscaling"/> is set and the result is the starting count).
    /// </summary>
    private int ResolveNumReplicas(int fallback, JsonObject? ov, string loc, out AutoscalingSpec? autoscaling)
    {
        autoscaling = null;
        var nr = ov?["num_replicas"];
        var isAuto = nr is JsonValue sv && sv.GetValueKind() == JsonValueKind.String && sv.GetValue<string>() == "auto";
        var autoscalingNode = ov?["autoscaling_config"] is { } an && an.GetValueKind() != JsonValueKind.Null ? an : null;
        var spec = autoscalingNode is null ? (isAuto ? ValidateAutoscaling(new JsonObject(), $"{loc}.autoscaling_config", true) : null)
            : ValidateAutoscaling(autoscalingNode, $"{loc}.autoscaling_config", isAuto);
        if (nr is null || isAuto)
        {
            if (spec is null) return fallback;
            autoscaling = spec;
            return spec.InitialReplicas;
        }

        var cap = _limits.MaxReplicas;
        var read = ReadInteger(nr, out var n);
        if (read is IntegerRead.NotANumber or IntegerRead.NotAnInteger)
            Error($"{loc}.num_replicas", $"`num_replicas` must be an int or \"auto\", but got: {ConfigText.Show(nr)}");
        else if (read == IntegerRead.Integer && n <= 0)
            Error($"{loc}.num_replicas", $"must be greater than 0 and at most {cap} ({ReplicaCapRule}) (got {n})");
        else if (read == IntegerRead.TooLarge || n > cap)
            Error($"{loc}.num_replicas", $"must be between 1 and {cap} ({ReplicaCapRule}) (got {ConfigText.Show(nr)})");
        else if (autoscalingNode is not null)
            Error($"{loc}.num_replicas", "Manually setting num_replicas is not allowed when autoscaling_config is provided.");
        else
            return (int)n;
        return fallback;
    }

    /// <summary>
    /// Validates autoscaling_config (Ray's AutoscalingConfig rules, bounded by the cluster cap). Returns
    /// it with Ray's defaults filled in, starting at initial_replicas, else min_replicas (either may be 0:
    /// scale to zero); or null on errors.
    /// </summary>
    private AutoscalingSpec? ValidateAutoscaling(JsonNode node, string loc, bool isAuto)
    {
        if (node is not JsonObject obj)
        {
            Error(loc, $"must be a mapping, got {ConfigText.Show(node)}");
            return null;
        }
        var before = _errorCount;
        CheckKeys(obj, loc, AutoscalingKeys, EmptySet);
        var cap = _limits.MaxReplicas;
        var min = Present(obj, "min_replicas") is { } minNode ? Integer(minNode, $"{loc}.min_replicas", NumberRange.Ints(0, cap)) : 1;
        var maxDefault = isAuto ? Math.Min(AutoDefaultMaxReplicas, cap) : 1;
        var maxNode = Present(obj, "max_replicas");
        var max = maxNode is not null ? Integer(maxNode, $"{loc}.max_replicas", NumberRange.Ints(1, cap)) : maxDefault;
        if (min is { } lo && max is { } hi && hi < lo)
            Error($"{loc}.max_replicas", maxNode is null
                ? $"max_replicas defaults to {hi}, below min_replicas ({lo}); set max_replicas between {lo} and {cap}"
                : $"must be greater than or equal to min_replicas ({lo}) and at most {cap} (got {hi})");
        long? initial = null;
        if (Present(obj, "initial_replicas") is { } initNode)
            initial = min is { } lo2 && max is { } hi2 && hi2 >= lo2
                ? Integer(initNode, $"{loc}.initial_replicas", NumberRange.Ints(lo2, hi2))
                : Integer(initNode, $"{loc}.initial_replicas", NumberRange.Ints(0, cap));
        var target = Present(obj, "target_ongoing_requests") is { } t ? Number(t, $"{loc}.target_ongoing_requests", FieldRanges.TargetOngoingRequests) : null;
        var seconds = AutoscalingSeconds.ToDictionary(k => k, k => Present(obj, k) is { } v ? Number(v, $"{loc}.{k}", FieldRanges.AutoscalingSeconds) : null);
        var factors = AutoscalingFactors.ToDictionary(k => k, k => Present(obj, k) is { } v ? Number(v, $"{loc}.{k}", FieldRanges.AutoscalingFactor) : null);

        if (_errorCount != before) return null;
        // min_replicas 0 scales to zero: the proxies queue requests while the first replica starts.
        var floor = (int)(min ?? 1);
        var ceiling = (int)Math.Max(max ?? 1, floor);
        var start = (int)Math.Clamp(initial ?? floor, floor, ceiling);
        return new AutoscalingSpec(floor, ceiling, start,
            target ?? AutoscalingSpec.DefaultTargetOngoingRequests,
            seconds["upscale_delay_s"] ?? AutoscalingSpec.DefaultUpscaleDelayS,
            seconds["downscale_delay_s"] ?? AutoscalingSpec.DefaultDownscaleDelayS,
            seconds["look_back_period_s"] ?? AutoscalingSpec.DefaultLookBackPeriodS,
            factors["upscaling_factor"], factors["downscaling_factor"],
            factors["upscale_smoothing_factor"] ?? 1, factors["downscale_smoothing_factor"] ?? 1);
    }

    private static readonly HashSet<string> EmptySet = [];

    /// <summary>The field's value, or null when it is absent or null (null means "Ray's default" here).</summary>
    private static JsonNode? Present(JsonObject obj, string key) => obj[key] is { } v && v.GetValueKind() != JsonValueKind.Null ? v : null;
}
