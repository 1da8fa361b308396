using System.Text.Json.Nodes;

namespace ServeAspire.Config;

/// <summary>A validated ServeDeploySchema (the PUT body), with effective deployment values resolved.</summary>
public sealed record ServeDeployConfig(HttpOptionsConfig HttpOptions, IReadOnlyList<ApplicationConfig> Applications)
{
    public static ServeDeployConfig Empty { get; } = new(HttpOptionsConfig.Default, []);
}

public sealed record HttpOptionsConfig(string Host, int Port, double? RequestTimeoutS)
{
    public static HttpOptionsConfig Default { get; } = new("127.0.0.1", 8000, null);
}

/// <param name="Submitted">The application exactly as the user wrote it (Ray's deployed_app_config).</param>
public sealed record ApplicationConfig(
    string Name,
    string? RoutePrefix,
    string ImportPath,
    IReadOnlyList<DeploymentSpec> Deployments,
    JsonObject Submitted);

/// <summary>
/// The effective options of one deployment: config file, else the class's [Deployment] attribute,
/// else Serve's default (Ray's priority order).
/// </summary>
public sealed record DeploymentSpec(
    string Name,
    string ImportPath,
    int NumReplicas,
    int MaxOngoingRequests,
    int MaxQueuedRequests,
    double HealthCheckPeriodS,
    double HealthCheckTimeoutS,
    double GracefulShutdownTimeoutS,
    double GracefulShutdownWaitLoopS,
    int? MaxReplicasPerNode,
    int MaxConstructorRetryCount,
    bool RetryOnFailure,
    AutoscalingSpec? Autoscaling = null,
    string CodeVersion = "",
    string? UserConfig = null,
    EnvVarMap? EnvVars = null)
{
    /// <summary>A hash of <see cref="UserConfig"/>; empty without one.</summary>
    public string UserConfigVersion => DeploymentVersion.UserConfig(UserConfig);

    public const int DefaultNumReplicas = 1;
    public const int DefaultMaxOngoingRequests = 5;
    public const int DefaultMaxQueuedRequests = -1;
    public const double DefaultHealthCheckPeriodS = 10;
    public const double DefaultHealthCheckTimeoutS = 30;
    public const double DefaultGracefulShutdownTimeoutS = 20;
    public const double DefaultGracefulShutdownWaitLoopS = 2;
    public const int DefaultMaxConstructorRetryCount = 20;
}

/// <summary>
/// A deployment's autoscaling_config with Ray's defaults filled in (AutoscalingConfig). The replica
/// count then moves between <see cref="MinReplicas"/> and <see cref="MaxReplicas"/>, starting at
/// <see cref="InitialReplicas"/>.
/// </summary>
public sealed record AutoscalingSpec(
    int MinReplicas,
    int MaxReplicas,
    int InitialReplicas,
    double TargetOngoingRequests = AutoscalingSpec.DefaultTargetOngoingRequests,
    double UpscaleDelayS = AutoscalingSpec.DefaultUpscaleDelayS,
    double DownscaleDelayS = AutoscalingSpec.DefaultDownscaleDelayS,
    double LookBackPeriodS = AutoscalingSpec.DefaultLookBackPeriodS,
    double? UpscalingFactor = null,
    double? DownscalingFactor = null,
    double UpscaleSmoothingFactor = 1,
    double DownscaleSmoothingFactor = 1)
{
    public const double DefaultTargetOngoingRequests = 2;
    public const double DefaultUpscaleDelayS = 30;
    public const double DefaultDownscaleDelayS = 600;
    public const double DefaultLookBackPeriodS = 30;
}
