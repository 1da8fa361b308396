using ServeAspire.Model;

namespace ServeAspire.ReplicaHost.Replicas;

/// <summary>
/// One replica as the supervisor sees it, whatever runs it: a child process (<see cref="ReplicaProcess"/>)
/// or an in-process stand-in (<see cref="SimulatedReplica"/>, <c>Node:Simulated</c>). The supervisor's
/// rules (idempotent starts, capacity, exit events, retention of the dead) are written once, against this.
/// </summary>
internal interface IReplica : IDisposable
{
    StartReplicaRequest Request { get; }
    int Pid { get; }
    ReplicaProcessState State { get; }

    /// <summary>When the replica reached DEAD (null while it lives): the supervisor prunes it a retention after.</summary>
    DateTimeOffset? ExitedAt { get; }

    /// <summary>Raised once, when the replica has exited.</summary>
    event Action<IReplica>? OnExit;

    ReplicaProcessInfo Snapshot();

    /// <summary>Hands a new user_config to the replica (applied in place; the snapshot reports it once applied). False when the replica is gone.</summary>
    bool Reconfigure(ReconfigureReplicaRequest request);

    /// <summary>Graceful stop: STOPPING until in-flight work is done (at most <paramref name="gracefulTimeout"/>), then DEAD.</summary>
    Task StopAsync(TimeSpan gracefulTimeout, CancellationToken cancellationToken);

    /// <summary>Immediate stop, without grace (SIGKILL); <paramref name="reason"/> becomes its exit message.</summary>
    void Kill(string? reason = null);
}

/// <summary>What a replica is on this node: started by the supervisor for each new replica id.</summary>
internal interface IReplicaLauncher
{
    /// <summary>Starts the replica <paramref name="request"/> names; throws <see cref="InvalidOperationException"/> when it cannot (the node answers 503).</summary>
    IReplica Start(StartReplicaRequest request);
}
