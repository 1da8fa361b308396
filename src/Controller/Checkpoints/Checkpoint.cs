using System.Text.Json.Nodes;
using ServeAspire.Controller.Deployments;

namespace ServeAspire.Controller.Checkpoints;

/// <summary>The applied config as submitted (Ray's CONFIG_CHECKPOINT_KEY).</summary>
public sealed record ConfigCheckpoint(DateTimeOffset AppliedAt, JsonNode? Config);

/// <summary>
/// Where every replica runs (Ray's deployment state checkpoint), for recovery by adoption, and each
/// autoscaled deployment's target, so a new leader resumes from it instead of initial_replicas.
/// </summary>
public sealed record StateCheckpoint(IReadOnlyList<ReplicaRecord> Replicas, IReadOnlyList<AutoscalingCheckpoint>? Autoscaling = null);

/// <summary>The autoscaler's target for one deployment and its last decision.</summary>
public sealed record AutoscalingCheckpoint(string Application, string Deployment, int Target, string? Decision, DateTimeOffset? DecidedAt);
