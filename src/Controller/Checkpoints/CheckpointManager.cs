using System.Text.Json;
using ServeAspire.Controller.Deployments;
using ServeAspire.Model;

namespace ServeAspire.Controller.Checkpoints;

/// <summary>
/// The one place that decides when the replica placement is checkpointed (Ray checkpoints the
/// deployment state before it acts on it): when the deployment state's <see cref="DeploymentStateManager.Version"/>
/// moved since the last save. Nothing is serialized on a tick where nothing changed.
/// </summary>
public sealed class CheckpointManager(DeploymentStateManager deployments, IClusterStore store)
{
    private long _saved = -1;

    /// <summary>Whether the state changed since the last save (or nothing was saved in this tenure yet).</summary>
    public bool Due => deployments.Version != Interlocked.Read(ref _saved);

    /// <returns>True when a checkpoint was written.</returns>
    public async Task<bool> SaveIfChangedAsync(long token, CancellationToken cancellationToken)
    {
        // Read the version before the replicas: a change made while we serialize is saved next time.
        var version = deployments.Version;
        if (version == Interlocked.Read(ref _saved)) return false;
        var checkpoint = JsonSerializer.Serialize(new StateCheckpoint(deployments.AllReplicas(), deployments.AutoscalingTargets()), SerializerOptions.Default);
        await store.SaveStateAsync(checkpoint, token, cancellationToken);
        Interlocked.Exchange(ref _saved, version);
        return true;
    }

    /// <summary>A new tenure: the first tick writes its own checkpoint.</summary>
    public void Reset() => Interlocked.Exchange(ref _saved, -1);
}
