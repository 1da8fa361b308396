using System.Text.Json.Serialization;

namespace ServeAspire.Model;

// Names and members follow Ray Serve's common.py / schema.py so tools reading Ray's status read ours.

[JsonConverter(typeof(JsonStringEnumConverter<ReplicaState>))]
public enum ReplicaState { STARTING, UPDATING, RECOVERING, RUNNING, STOPPING, PENDING_MIGRATION }

[JsonConverter(typeof(JsonStringEnumConverter<DeploymentStatus>))]
public enum DeploymentStatus { UPDATING, HEALTHY, UNHEALTHY, DEPLOY_FAILED, UPSCALING, DOWNSCALING }

[JsonConverter(typeof(JsonStringEnumConverter<DeploymentStatusTrigger>))]
public enum DeploymentStatusTrigger
{
    UNSPECIFIED, CONFIG_UPDATE_STARTED, CONFIG_UPDATE_COMPLETED, UPSCALE_COMPLETED, DOWNSCALE_COMPLETED,
    AUTOSCALING, REPLICA_STARTUP_FAILED, HEALTH_CHECK_FAILED, INTERNAL_ERROR, DELETING,
}

[JsonConverter(typeof(JsonStringEnumConverter<ApplicationStatus>))]
public enum ApplicationStatus { NOT_STARTED, DEPLOYING, DEPLOY_FAILED, RUNNING, UNHEALTHY, DELETING }

[JsonConverter(typeof(JsonStringEnumConverter<ProxyStatus>))]
public enum ProxyStatus { STARTING, HEALTHY, UNHEALTHY, DRAINING, DRAINED }

[JsonConverter(typeof(JsonStringEnumConverter<ActorState>))]
public enum ActorState { ALIVE, DEAD }

/// <summary>What a node knows about one of its replica processes.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ReplicaProcessState>))]
public enum ReplicaProcessState
{
    /// <summary>Process started, constructor still running.</summary>
    STARTING,
    /// <summary>Constructor done, serving on its port.</summary>
    RUNNING,
    /// <summary>Asked to stop; finishing in-flight requests.</summary>
    STOPPING,
    /// <summary>Process exited (the exit code and message say why).</summary>
    DEAD,
}
