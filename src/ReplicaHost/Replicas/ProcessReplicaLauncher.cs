using Microsoft.Extensions.Options;
using ServeAspire.Model;
using ServeAspire.ReplicaHost.Nodes;

namespace ServeAspire.ReplicaHost.Replicas;

/// <summary>The real thing: each replica a child process of its own (<see cref="ReplicaProcess"/>).</summary>
internal sealed class ProcessReplicaLauncher(IOptions<NodeOptions> options, TimeProvider time, ILogger<ReplicaSupervisor> logger) : IReplicaLauncher
{
    // The supervisor's logger category, as before the launcher seam: replica output keeps showing under it.
    public IReplica Start(StartReplicaRequest request) =>
        ReplicaProcess.Start(request, options.Value.Id, options.Value.ReplicaBindAddress, options.Value.AdvertisedHost, logger, time);
}
