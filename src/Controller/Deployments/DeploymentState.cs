using ServeAspire.Config;
using ServeAspire.Model;

namespace ServeAspire.Controller.Deployments;

/// <summary>Target and observed state of one deployment (Ray's DeploymentState): its spec, its replicas by state, its status.</summary>
public sealed partial class DeploymentState(string application, DeploymentSpec spec, Action onChange, ILogger logger)
{
    public string Application { get; } = application;
    public DeploymentSpec Spec { get; set; } = spec;
    public ReplicaStateContainer Replicas { get; } = new(application, spec.Name, onChange, logger);
    public DeploymentStatus Status { get; private set; } = DeploymentStatus.UPDATING;
    public DeploymentStatusTrigger Trigger { get; private set; } = DeploymentStatusTrigger.CONFIG_UPDATE_STARTED;
    public string Message { get; private set; } = "";
    /// <summary>Constructor failures in a row (reset when a replica reaches RUNNING).</summary>
    public int ConsecutiveStartupFailures { get; set; }
    public string? LastStartupError { get; set; }
    public bool Deleting { get; set; }
    /// <summary>A replica failed its health checks and is not replaced yet (Ray: HEALTH_CHECK_FAILED → UNHEALTHY).</summary>
    public string? HealthFailure { get; set; }
    /// <summary>
    /// Whether this deployment has had a replica placed, adopted or restored in this controller's
    /// memory: only one that never had is "fresh" and waits for the node set to settle. A deployment
    /// whose replicas all died (e.g. with their node, in a failover) is replaced at once.
    /// </summary>
    public bool EverPlaced { get; set; }
    /// <summary>Why replicas are not being placed right now (e.g. nodes still registering); part of the status message.</summary>
    public string? PlacementNote { get; set; }

    public int Running => Replicas.CountIn(ReplicaState.RUNNING);
    public int Starting => Replicas.CountIn(ReplicaState.STARTING);
    public IEnumerable<ReplicaRecord> Alive => Replicas.Alive;

    public bool Failed => ConsecutiveStartupFailures >= Spec.MaxConstructorRetryCount;

    /// <summary>Updates the target; a new target restarts the status machine (CONFIG_UPDATE_STARTED).</summary>
    public void SetSpec(DeploymentSpec spec)
    {
        if (spec == Spec && !Deleting) return;
        Spec = spec;
        Deleting = false;
        ConsecutiveStartupFailures = 0;
        LastStartupError = null;
        Transition(DeploymentStatus.UPDATING, DeploymentStatusTrigger.CONFIG_UPDATE_STARTED, "");
    }

    /// <summary>Derives the status from what was observed (Ray's handle_transition, reduced to what exists here).</summary>
    public void ComputeStatus()
    {
        if (Deleting)
        {
            Transition(DeploymentStatus.UPDATING, DeploymentStatusTrigger.DELETING, "Deleting.");
            return;
        }
        if (Failed)
        {
            Transition(DeploymentStatus.DEPLOY_FAILED, DeploymentStatusTrigger.REPLICA_STARTUP_FAILED,
                $"The deployment failed to start {ConsecutiveStartupFailures} times in a row. This may be due to a problem with its constructor or initial health check failing. Last error: {LastStartupError}");
            return;
        }
        var running = Running;
        var stopping = Replicas.CountIn(ReplicaState.STOPPING);
        if (HealthFailure is not null && running < Spec.NumReplicas)
        {
            Transition(DeploymentStatus.UNHEALTHY, DeploymentStatusTrigger.HEALTH_CHECK_FAILED,
                $"{running}/{Spec.NumReplicas} replicas RUNNING; a replica failed its health check and is being replaced: {HealthFailure}");
            return;
        }
        HealthFailure = null;
        if (running == Spec.NumReplicas && Starting == 0 && stopping == 0)
        {
            var trigger = Trigger switch
            {
                DeploymentStatusTrigger.CONFIG_UPDATE_STARTED => DeploymentStatusTrigger.CONFIG_UPDATE_COMPLETED,
                _ when Status == DeploymentStatus.HEALTHY => Trigger,
                DeploymentStatusTrigger.HEALTH_CHECK_FAILED or DeploymentStatusTrigger.UNSPECIFIED => DeploymentStatusTrigger.UPSCALE_COMPLETED,
                _ => DeploymentStatusTrigger.CONFIG_UPDATE_COMPLETED,
            };
            Transition(DeploymentStatus.HEALTHY, trigger, "");
            return;
        }
        var message = $"{running}/{Spec.NumReplicas} replicas RUNNING" + (Starting > 0 ? $", {Starting} STARTING" : "") + (stopping > 0 ? $", {stopping} STOPPING" : "") +
            (LastStartupError is not null ? $"; last startup error: {LastStartupError}" : "") +
            (PlacementNote is not null ? $"; {PlacementNote}" : "");
        if (Status == DeploymentStatus.HEALTHY && running < Spec.NumReplicas)
            Transition(DeploymentStatus.UPDATING, DeploymentStatusTrigger.UNSPECIFIED, message);
        else
            Transition(DeploymentStatus.UPDATING, Trigger == DeploymentStatusTrigger.CONFIG_UPDATE_COMPLETED ? DeploymentStatusTrigger.UNSPECIFIED : Trigger, message);
    }

    /// <summary>The one place the status changes; each change of status (not of message) is logged.</summary>
    private void Transition(DeploymentStatus status, DeploymentStatusTrigger trigger, string message)
    {
        if (status != Status) Log.StatusChanged(logger, Application, Spec.Name, Status, status, trigger, message);
        Status = status;
        Trigger = trigger;
        Message = message;
    }

    /// <summary>Restores status fields from a checkpoint.</summary>
    internal void Restore(DeploymentStatus status, DeploymentStatusTrigger trigger, string message) => Transition(status, trigger, message);

    private static partial class Log
    {
        [LoggerMessage(320, LogLevel.Information, "Deployment {Application}/{Deployment}: {From} -> {To} ({Trigger}) {Message}")]
        public static partial void StatusChanged(ILogger logger, string application, string deployment, DeploymentStatus from, DeploymentStatus to, DeploymentStatusTrigger trigger, string message);
    }
}
