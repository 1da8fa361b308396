namespace ServeAspire.Model;

// Contracts the services exchange (over HTTP and through Redis). JSON, snake_case (SerializerOptions.Default).

/// <summary>A node agent's registration in the store, refreshed by its heartbeat.</summary>
/// <param name="Capacity">How many replica processes the node hosts at most (0: not advertised, e.g. an older node).</param>
public sealed record NodeRegistration(string NodeId, string InstanceId, string Address, int Pid, DateTimeOffset StartedAt, bool Draining = false, int Capacity = 0);

/// <summary>A proxy's registration in the store, refreshed by its heartbeat.</summary>
public sealed record ProxyRegistration(string Name, string InstanceId, string Address, int Pid, DateTimeOffset StartedAt, bool Draining);

/// <summary>What the controller asks a node to run: one replica of one deployment.</summary>
/// <param name="CodeVersion">The deployment's code version (import path, assembly content, env vars): replicas of another version are rolled.</param>
/// <param name="EnvVars">runtime_env.env_vars: the replica process's environment, on top of the node's allowlist.</param>
/// <param name="UserConfig">user_config as JSON text, given to the deployment's ReconfigureAsync before the replica counts as RUNNING.</param>
/// <param name="UserConfigVersion">A hash of <paramref name="UserConfig"/>, reported back once applied.</param>
public sealed record StartReplicaRequest(
    string ReplicaId,
    string Application,
    string Deployment,
    string ImportPath,
    double GracefulShutdownTimeoutS,
    double GracefulShutdownWaitLoopS,
    string? CodeVersion = null,
    IReadOnlyDictionary<string, string>? EnvVars = null,
    string? UserConfig = null,
    string? UserConfigVersion = null);

/// <summary>A new user_config for a running replica (Ray's reconfigure): applied in place, no restart.</summary>
public sealed record ReconfigureReplicaRequest(string UserConfig, string UserConfigVersion);

/// <summary>A node's view of one replica process.</summary>
public sealed record ReplicaProcessInfo(
    string ReplicaId,
    string Application,
    string Deployment,
    ReplicaProcessState State,
    int? Pid,
    string? Url,
    DateTimeOffset StartedAt,
    int? ExitCode,
    string? Message,
    string? CodeVersion = null,
    string? UserConfigVersion = null,
    string? ReconfigureError = null,
    int Restarts = 0,
    int? LastExitCode = null);

/// <summary>
/// The kill API on a node (<c>POST /replicas/{id}/kill</c>): SIGKILL the replica's process; with
/// <paramref name="Restart"/> the node starts it again under the same id (Ray's <c>no_restart=False</c>).
/// </summary>
public sealed record KillReplicaRequest(bool Restart, string? Reason = null);

/// <summary>What a node answers to <c>GET /replicas</c>.</summary>
public sealed record NodeReplicasResponse(string NodeId, string InstanceId, IReadOnlyList<ReplicaProcessInfo> Replicas);

/// <summary>An event published on the store's event channel (node → controller).</summary>
public sealed record ClusterEvent(string Kind, string NodeId, string? ReplicaId, string? Message);

/// <summary>
/// On a draining proxy's <c>/-/healthz</c> (503): whether requests are still in flight, so the controller
/// can tell Ray's DRAINING from DRAINED.
/// </summary>
public static class ProxyDrain
{
    public const string Header = "X-Serve-Drain";
    public const string Draining = "draining";
    public const string Drained = "drained";
}
