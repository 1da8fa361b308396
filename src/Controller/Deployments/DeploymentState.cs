using ServeAspire.Config;
using ServeAspire.Model;

namespace ServeAspire.Controller.Deployments;

/// <summary>Target and observed state of one deployment (Ray's DeploymentState): its spec, its replicas by state, its status.</summary>
public sealed partial class DeploymentState(string application, DeploymentSpec spec, Action onChange, ILogger logger)
{
    private readonly Action onChange = onChange;
    public string Application { get; } = application;
    public DeploymentSpec Spec { get; private set; } = spec;
    /// <summary>The hash of Spec.UserConfig, computed once per spec (it is compared for every replica every tick).</summary>
    public string UserConfigVersion { get; private set; } = spec.UserConfigVersion;
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

    /// <summary>Whether <paramref name="r"/> runs the current code version; the others are replaced by a rolling update.</summary>
    public bool IsCurrent(ReplicaRecord r) => r.CodeVersion is null || r.CodeVersion == Spec.CodeVersion;

    /// <summary>Whether <paramref name="r"/> has applied the current user_config (always, when there is none).</summary>
    public bool IsConfigured(ReplicaRecord r) => Spec.UserConfig is null || r.UserConfigVersion == UserConfigVersion;

    /// <summary>A replica refused the current user_config (its ReconfigureAsync threw): it keeps the previous one.</summary>
    public string? ReconfigureError { get; set; }

    /// <summary>The autoscaler's current target (null: none yet, or the deployment is not autoscaled).</summary>
    public int? AutoscaledTarget { get; private set; }

    /// <summary>The autoscaler's last decision and why (shown in the status), and when it was taken.</summary>
    public string? ScalingDecision { get; private set; }
    public DateTimeOffset? ScalingDecidedAt { get; private set; }

    /// <summary>How many replicas this deployment should have now: num_replicas, or the autoscaler's target within its bounds.</summary>
    public int TargetReplicas => Spec.Autoscaling is { } a
        ? Math.Clamp(AutoscaledTarget ?? a.InitialReplicas, a.MinReplicas, a.MaxReplicas)
        : Spec.NumReplicas;

    /// <summary>
    /// Applies an autoscaling decision: the target moves, and the status says UPSCALING or DOWNSCALING
    /// (trigger AUTOSCALING) until the replicas match it.
    /// </summary>
    public void Autoscale(int target, string decision, DateTimeOffset now)
    {
        if (Spec.Autoscaling is null) return;
        var before = TargetReplicas;
        AutoscaledTarget = target;
        ScalingDecision = decision;
        ScalingDecidedAt = now;
        onChange();
        var after = TargetReplicas;
        if (after != before && !Deleting && !Failed)
            Transition(after > before ? DeploymentStatus.UPSCALING : DeploymentStatus.DOWNSCALING, DeploymentStatusTrigger.AUTOSCALING,
                $"autoscaling from {before} to {after} replicas: {decision}");
    }

    /// <summary>Restores the autoscaler's target from a checkpoint (a new leader does not start over from initial_replicas).</summary>
    internal void RestoreAutoscaling(int target, string? decision, DateTimeOffset? decidedAt)
    {
        AutoscaledTarget = target;
        ScalingDecision = decision;
        ScalingDecidedAt = decidedAt;
    }

    /// <summary>Updates the target; a new target restarts the status machine (CONFIG_UPDATE_STARTED).</summary>
    public void SetSpec(DeploymentSpec spec)
    {
        if (spec == Spec && !Deleting) return;
        Spec = spec;
        UserConfigVersion = spec.UserConfigVersion;
        ReconfigureError = null;
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
        if (Failed && Replicas.Alive.Count(r => !IsCurrent(r)) is > 0 and var previous)
        {
            // The new version never ran: the rollout stops and the previous version keeps serving.
            Transition(DeploymentStatus.DEPLOY_FAILED, DeploymentStatusTrigger.REPLICA_STARTUP_FAILED,
                $"The new version ({Spec.CodeVersion}) failed to start {ConsecutiveStartupFailures} times in a row; the rolling update stopped and {previous} replica(s) of the previous version keep serving. Last error: {LastStartupError}");
            return;
        }
        if (Failed)
        {
            Transition(DeploymentStatus.DEPLOY_FAILED, DeploymentStatusTrigger.REPLICA_STARTUP_FAILED,
                $"The deployment failed to start {ConsecutiveStartupFailures} times in a row. This may be due to a problem with its constructor or initial health check failing. Last error: {LastStartupError}");
            return;
        }
        var running = 0;
        var outdated = 0;
        var unconfigured = 0;
        foreach (var r in Replicas.Alive)
        {
            if (!IsCurrent(r)) outdated++;
            else if (r.State == ReplicaState.RUNNING)
            {
                running++;
                if (!IsConfigured(r)) unconfigured++;
            }
        }
        var stopping = Replicas.CountIn(ReplicaState.STOPPING);
        if (ReconfigureError is not null)
        {
            Transition(DeploymentStatus.DEPLOY_FAILED, DeploymentStatusTrigger.UNSPECIFIED,
                $"user_config could not be applied ({ReconfigureError}); the replicas keep serving with their previous user_config. Fix user_config and deploy again.");
            return;
        }
        if (HealthFailure is not null && running < TargetReplicas)
        {
            Transition(DeploymentStatus.UNHEALTHY, DeploymentStatusTrigger.HEALTH_CHECK_FAILED,
                $"{running}/{TargetReplicas} replicas RUNNING; a replica failed its health check and is being replaced: {HealthFailure}");
            return;
        }
        HealthFailure = null;
        if (running == TargetReplicas && Starting == 0 && stopping == 0 && outdated == 0 && unconfigured == 0)
        {
            var trigger = Trigger switch
            {
                DeploymentStatusTrigger.CONFIG_UPDATE_STARTED => DeploymentStatusTrigger.CONFIG_UPDATE_COMPLETED,
                _ when Status == DeploymentStatus.HEALTHY => Trigger,
                DeploymentStatusTrigger.AUTOSCALING => Status == DeploymentStatus.DOWNSCALING ? DeploymentStatusTrigger.DOWNSCALE_COMPLETED : DeploymentStatusTrigger.UPSCALE_COMPLETED,
                DeploymentStatusTrigger.HEALTH_CHECK_FAILED or DeploymentStatusTrigger.UNSPECIFIED => DeploymentStatusTrigger.UPSCALE_COMPLETED,
                _ => DeploymentStatusTrigger.CONFIG_UPDATE_COMPLETED,
            };
            Transition(DeploymentStatus.HEALTHY, trigger, "");
            return;
        }
        var message = $"{running}/{TargetReplicas} replicas RUNNING" + (Starting > 0 ? $", {Starting} STARTING" : "") + (stopping > 0 ? $", {stopping} STOPPING" : "") +
            (outdated > 0 ? $"; rolling update to version {Spec.CodeVersion}: {outdated} replica(s) of the previous version still serving" : "") +
            (unconfigured > 0 ? $"; {unconfigured} replica(s) applying the new user_config" : "") +
            (LastStartupError is not null ? $"; last startup error: {LastStartupError}" : "") +
            (PlacementNote is not null ? $"; {PlacementNote}" : "");
        if (Status is DeploymentStatus.UPSCALING or DeploymentStatus.DOWNSCALING && Trigger == DeploymentStatusTrigger.AUTOSCALING)
            Transition(Status, Trigger, $"{message}; {ScalingDecision}");
        else if (Status == DeploymentStatus.HEALTHY && running < TargetReplicas)
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
