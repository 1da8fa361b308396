using System.Text.Json.Nodes;
using ServeAspire.Controller.Deployments;

namespace ServeAspire.Controller.Checkpoints;

/// <summary>The applied config as submitted (Ray's CONFIG_CHECKPOINT_KEY).</summary>
public sealed record ConfigCheckpoint(DateTimeOffset AppliedAt, JsonNode? Config);

/// <summary>Where every replica runs (Ray's deployment state checkpoint), for recovery by adoption.</summary>
public sealed record StateCheckpoint(IReadOnlyList<ReplicaRecord> Replicas);
