using System.ComponentModel.DataAnnotations;

namespace ServeAspire.ReplicaHost.Nodes;

/// <summary>Settings of a node agent (section <c>Node</c>).</summary>
public sealed class NodeOptions
{
    public const string Section = "Node";

    /// <summary>Stable node name (the AppHost sets node-0, node-1, …).</summary>
    [Required] public string Id { get; set; } = Environment.MachineName;

    /// <summary>Where the node's API listens; port 0 picks a free one, which the node registers.</summary>
    [Required] public string Url { get; set; } = "http://127.0.0.1:0";

    /// <summary>Cluster name: the Redis key namespace shared by all components of one cluster.</summary>
    [Required] public string Cluster { get; set; } = "default";

    /// <summary>Address replicas listen on (each on a free port): loopback locally, the pod IP in Kubernetes so proxies in other pods reach them.</summary>
    [Required] public string ReplicaBindAddress { get; set; } = "127.0.0.1";

    /// <summary>
    /// The host the node registers for itself and its replicas when <see cref="Url"/> or <see cref="ReplicaBindAddress"/>
    /// is a wildcard (0.0.0.0, [::]), as in a container. Default: this machine's first non-loopback IPv4 address.
    /// </summary>
    public string? AdvertisedHost { get; set; }

    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a registration lives without a heartbeat before the controller treats the node as dead.</summary>
    public TimeSpan HeartbeatTtl { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>On SIGTERM, how long the node waits for the controller to move its replicas away before stopping them itself.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(25);

    /// <summary>
    /// How many replica processes this node hosts at most (advertised to the controller, enforced on
    /// start). Default: one per <see cref="MemoryPerReplicaMiB"/> of the memory this process may use, at least 1.
    /// </summary>
    [Range(1, 10_000)] public int? MaxReplicas { get; set; }

    /// <summary>Memory budgeted per replica for the default <see cref="MaxReplicas"/> (an idle .NET replica takes about 130 MB).</summary>
    [Range(64, 1_048_576)] public int MemoryPerReplicaMiB { get; set; } = 512;

    /// <summary>The effective capacity.</summary>
    public int Capacity => MaxReplicas ?? (int)Math.Clamp(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (MemoryPerReplicaMiB * 1024L * 1024L), 1, 10_000);

    /// <summary>How long exited replicas stay listed so the controller sees why they exited.</summary>
    public TimeSpan DeadReplicaRetention { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// For control-plane scale tests only: replicas are in-process stand-ins, not processes. They are
    /// RUNNING at once, listed with this node's pid, and answered by this node at <c>{its URL}/sim/{replicaId}</c>;
    /// the deployment's code never runs. The node API, heartbeat, fencing and capacity are unchanged.
    /// </summary>
    public bool Simulated { get; set; }

    /// <summary>With <see cref="Simulated"/>: how long a stopped stand-in stays STOPPING before it is DEAD (a real replica with nothing in flight takes about this).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan SimulatedStopDelay { get; set; } = TimeSpan.FromMilliseconds(100);
}
