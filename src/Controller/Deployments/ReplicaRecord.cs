using System.Text.Json.Serialization;
using ServeAspire.Model;

namespace ServeAspire.Controller.Deployments;

/// <summary>
/// The controller's record of one replica (Ray's DeploymentReplica), checkpointed to the store. Its
/// <see cref="State"/> changes only through <see cref="ReplicaStateContainer.Transition"/>, which
/// refuses illegal moves and logs each change.
/// </summary>
public sealed class ReplicaRecord
{
    public required string ReplicaId { get; init; }
    public required string Application { get; init; }
    public required string Deployment { get; init; }
    public required string NodeId { get; init; }
    /// <summary>The node incarnation that runs it; a restarted node runs none of its predecessor's replicas.</summary>
    public string? NodeInstanceId { get; set; }
    [JsonInclude] public ReplicaState State { get; internal set; } = ReplicaState.STARTING;
    public int? Pid { get; set; }
    public string? Url { get; set; }
    /// <summary>When its current process started (a restart in place by the kill API starts the clock again).</summary>
    public DateTimeOffset StartTime { get; set; }
    /// <summary>How often its node restarted it in place under this id (the kill API with restart; Ray's num_restarts).</summary>
    public int Restarts { get; set; }
    /// <summary>How its previous process ended, once it was restarted in place.</summary>
    public int? LastExitCode { get; set; }
    /// <summary>When the replica left the routing table on its way out.</summary>
    public DateTimeOffset? StopRequestedAt { get; set; }
    /// <summary>Why it is being stopped (scaling down, unhealthy, deleted…).</summary>
    public string? StopReason { get; set; }
    /// <summary>Whether its node has accepted the stop.</summary>
    public bool StopSent { get; set; }
    /// <summary>Whether its node has accepted the start (until then it may not be listed by the node).</summary>
    public bool StartConfirmed { get; set; }
    /// <summary>
    /// The code version it runs (import path, assembly content, env vars). Null for a replica from
    /// before versions were recorded: taken as current, so an upgrade restarts nothing.
    /// </summary>
    public string? CodeVersion { get; set; }
    /// <summary>The user_config version it has applied, as its node reports it.</summary>
    public string? UserConfigVersion { get; set; }
    /// <summary>The user_config version last handed to it (not repeated while it is applied or pending).</summary>
    public string? UserConfigSent { get; set; }

    /// <summary>Ray's actor name for a replica.</summary>
    [JsonIgnore]
    public string ActorName => $"SERVE_REPLICA::{Deployment}#{ReplicaId}";

    [JsonIgnore]
    public bool IsAlive => State is ReplicaState.STARTING or ReplicaState.RUNNING or ReplicaState.UPDATING or ReplicaState.RECOVERING;
}

/// <summary>A replica that has died or stopped, kept for the State API.</summary>
public sealed record DeadReplica(string ReplicaId, string Application, string Deployment, string NodeId, int? Pid, DateTimeOffset DiedAt, string Reason,
    int? ExitCode = null, int Restarts = 0)
{
    public string ActorName => $"SERVE_REPLICA::{Deployment}#{ReplicaId}";
}
