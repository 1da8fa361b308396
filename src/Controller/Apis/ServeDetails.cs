using System.Text.Json.Nodes;
using ServeAspire.Model;

namespace ServeAspire.Controller.Apis;

// Ray's ServeInstanceDetails (GET /api/serve/applications/), serialized snake_case.

public sealed record ServeInstanceDetails(
    ActorDetails ControllerInfo,
    string ProxyLocation,
    HttpOptionsDetails HttpOptions,
    IReadOnlyDictionary<string, ProxyDetails> Proxies,
    string DeployMode,
    IReadOnlyDictionary<string, ApplicationDetails> Applications,
    double? TargetCapacity,
    IReadOnlyList<TargetGroup> TargetGroups);

public sealed record ActorDetails(string? NodeId, string? NodeIp, string? ActorId, string? ActorName, int? Pid);

public sealed record HttpOptionsDetails(string Host, int Port, double? RequestTimeoutS);

public sealed record ProxyDetails(string NodeId, string NodeIp, string ActorId, string ActorName, int Pid, ProxyStatus Status, string Address);

public sealed record ApplicationDetails(
    string Name,
    string? RoutePrefix,
    string? DocsPath,
    ApplicationStatus Status,
    string Message,
    double LastDeployedTimeS,
    JsonNode? DeployedAppConfig,
    string Source,
    IReadOnlyDictionary<string, DeploymentDetails> Deployments,
    bool ExternalScalerEnabled);

public sealed record DeploymentDetails(
    string Name,
    DeploymentStatus Status,
    DeploymentStatusTrigger StatusTrigger,
    string Message,
    JsonObject DeploymentConfig,
    int TargetNumReplicas,
    IReadOnlyDictionary<string, double> RequiredResources,
    IReadOnlyList<ReplicaDetails> Replicas,
    AutoscalingDetails? Autoscaling = null);

/// <summary>An autoscaled deployment's bounds, current target and the autoscaler's last decision (why, and when).</summary>
public sealed record AutoscalingDetails(int MinReplicas, int MaxReplicas, int TargetReplicas, int CurrentReplicas, string? LastDecision, double? DecidedAtS);

/// <param name="CodeVersion">The code version the replica runs (a rolling update replaces the others).</param>
/// <param name="UserConfigVersion">The user_config version it has applied.</param>
/// <param name="StopReason">Why a STOPPING replica is being stopped (e.g. its health checks failed); null otherwise.</param>
public sealed record ReplicaDetails(string NodeId, string NodeIp, string ActorId, string ActorName, string ReplicaId, ReplicaState State, int? Pid, double StartTimeS,
    string? CodeVersion = null, string? UserConfigVersion = null, string? StopReason = null);

public sealed record TargetGroup(IReadOnlyList<Target> Targets, string RoutePrefix, string Protocol, string AppName);

public sealed record Target(string Ip, int Port, string InstanceId, string Name);

/// <summary>One row of the State API (Ray's <c>ray list actors</c>).</summary>
/// <param name="NumRestarts">Times restarted in place under this name (Ray's num_restarts; the kill API with no_restart=false).</param>
/// <param name="ExitCode">How its process ended (DEAD), or how its previous process ended (restarted).</param>
public sealed record ActorInfo(string ActorId, string ClassName, string Name, string State, int? Pid, string? NodeId, string RayNamespace, string? Address, string? DeathCause,
    int NumRestarts = 0, int? ExitCode = null);

public sealed record ActorList(int Total, IReadOnlyList<ActorInfo> Actors);
