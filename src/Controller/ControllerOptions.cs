using ServeAspire.Controller.Deployments;
using System.ComponentModel.DataAnnotations;

namespace ServeAspire.Controller;

/// <summary>Settings of the controller (section <c>Controller</c>).</summary>
public sealed class ControllerOptions : IValidatableObject
{
    public const string Section = "Controller";

    /// <summary>REST API address (Ray's dashboard port 8265).</summary>
    [Required] public string Url { get; set; } = "http://127.0.0.1:8265";

    /// <summary>This instance's own address (health checks, and where a standby forwards API calls). Default: <see cref="Url"/>.</summary>
    public string? InternalUrl { get; set; }

    /// <summary>This instance's name (the AppHost's resource name, e.g. controller-0): what the kill API and logs call it. Default: the host name (a pod's name in Kubernetes).</summary>
    public string? Name { get; set; }

    public string EffectiveName => string.IsNullOrWhiteSpace(Name) ? Environment.MachineName : Name;

    [Required] public string Cluster { get; set; } = "default";

    /// <summary>
    /// Leader lease lifetime: a standby takes over at most this long after the leader stops renewing (it
    /// wakes when the lease would expire). The leader itself trusts its lease for 90 % of it after a renewal was sent.
    /// </summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromMilliseconds(1500);

    /// <summary>
    /// How often the leader renews (and a standby polls). At most a quarter of <see cref="LeaseTtl"/>, so that
    /// two renewals in a row can be late (a GC pause, a stalled store call) without the lease lapsing.
    /// </summary>
    public TimeSpan LeaseRenewInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    public static readonly TimeSpan MinLeaseTtl = TimeSpan.FromMilliseconds(500);
    public static readonly TimeSpan MaxLeaseTtl = TimeSpan.FromMinutes(1);
    public static readonly TimeSpan MinLeaseRenewInterval = TimeSpan.FromMilliseconds(50);
    /// <summary>Renewals per TTL at least: with the leader's 90 % trust, four per TTL leave room for two late ones.</summary>
    public const int MinRenewalsPerTtl = 4;

    /// <summary>How long a proxy health check (<c>/-/healthz</c>) may take.</summary>
    public TimeSpan ProxyProbeTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Period of the control loop (Ray's CONTROL_LOOP_INTERVAL_S is 0.1 s; a node poll per tick wants longer).</summary>
    public TimeSpan TickInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Deadline of one call to a node.</summary>
    public TimeSpan NodeCallTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long a tick waits for the nodes' replica lists (asked concurrently). A node that has not
    /// answered by then is "no news" this tick: a slow or hung node never holds up the loop.
    /// </summary>
    public TimeSpan NodeObserveBudget { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Start and stop calls to nodes in flight at once (a thousand starts are not a thousand sockets).</summary>
    [Range(1, 1000)] public int MaxConcurrentNodeCalls { get; set; } = 32;

    /// <summary>
    /// How long a replica leaving the routing table waits before its node is told to stop it, so
    /// proxies have the new table before the replica stops accepting.
    /// </summary>
    public TimeSpan RouteWithdrawDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// A Serve config applied when a leader finds no checkpoint (KubeRay's serveConfigV2: in Kubernetes
    /// a ConfigMap mounted into the controller pods). Later changes come through the REST API.
    /// </summary>
    public string? ServeConfigFile { get; set; }

    /// <summary>
    /// The same initial Serve config given as text (YAML or JSON), for platforms that pass settings as
    /// environment variables rather than files (the Aspire manifest for azd and aspirate). The file wins when both are set.
    /// </summary>
    public string? ServeConfigYaml { get; set; }

    /// <summary>
    /// How many nodes the cluster was started with (the AppHost and the Kubernetes manifests set it).
    /// A deployment's first placement in a tenure waits until this many are live, at most
    /// <see cref="NodeSettleTimeout"/>. 0: unknown, wait until the set is unchanged for <see cref="NodeSettleWindow"/>.
    /// </summary>
    [Range(0, 10_000)] public int ExpectedNodes { get; set; }

    /// <summary>Longest a first placement waits for the node set to settle, from the start of the tenure; then it uses the live nodes.</summary>
    public TimeSpan NodeSettleTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>With no <see cref="ExpectedNodes"/>: how long the live-node set must stay unchanged to count as settled.</summary>
    public TimeSpan NodeSettleWindow { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Cluster-wide cap on replicas: a config asking for more (over all applications) is refused with 400.</summary>
    [Range(1, 100_000)] public int MaxReplicas { get; set; } = 1000;

    /// <summary>Replicas starting at once on one node (process start and constructor are the costly part).</summary>
    [Range(1, 1000)] public int MaxStartingPerNode { get; set; } = 4;

    /// <summary>Replicas of one deployment starting at once.</summary>
    [Range(1, 10_000)] public int MaxStartingPerDeployment { get; set; } = 16;

    /// <summary>
    /// Share of a deployment's target a rolling update replaces at once (Ray: about 20 %): that many new
    /// replicas run above the target, at least one; old ones leave only as new ones are RUNNING.
    /// </summary>
    [Range(0.01, 1.0)] public double RollingUpdateShare { get; set; } = ReplicaLimits.DefaultRollingUpdateShare;

    /// <summary>A replica not RUNNING this long after placement counts as a constructor failure (stopped, retried, then DEPLOY_FAILED).</summary>
    public TimeSpan ReplicaStartupTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>A node or proxy registration dead this long is removed from the store (listed as DEAD until then).</summary>
    public TimeSpan DeadRegistrationRetention { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Fault injection, for tests only (unset in every shipped configuration): a file that, when it exists
    /// and holds a position (<c>tick</c> or <c>act</c>), makes the leader's next tick stop there with
    /// its token in hand until the test releases it. See <see cref="ControlLoop.TickFailpoint"/>.
    /// </summary>
    public string? FailpointFile { get; set; }

    /// <summary>How many dead actors <c>/api/actors</c> remembers.</summary>
    [Range(0, 10_000)] public int DeadActorHistory { get; set; } = 200;

    /// <summary>Cross-field rules, checked at startup (<c>ValidateDataAnnotations</c> calls this once the attributes pass).</summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (LeaseTtl < MinLeaseTtl || LeaseTtl > MaxLeaseTtl)
            yield return new ValidationResult(
                $"Controller:LeaseTtl is {LeaseTtl.TotalMilliseconds} ms; it must be between {MinLeaseTtl.TotalMilliseconds} ms and {MaxLeaseTtl.TotalMilliseconds} ms.",
                [nameof(LeaseTtl)]);
        if (LeaseRenewInterval < MinLeaseRenewInterval)
            yield return new ValidationResult(
                $"Controller:LeaseRenewInterval is {LeaseRenewInterval.TotalMilliseconds} ms; it must be at least {MinLeaseRenewInterval.TotalMilliseconds} ms.",
                [nameof(LeaseRenewInterval)]);
        else if (LeaseRenewInterval * MinRenewalsPerTtl > LeaseTtl)
            yield return new ValidationResult(
                $"Controller:LeaseRenewInterval ({LeaseRenewInterval.TotalMilliseconds} ms) must be at most 1/{MinRenewalsPerTtl} of Controller:LeaseTtl ({LeaseTtl.TotalMilliseconds} ms), "
                + "so that two late renewals in a row (a GC pause, a stalled store call) do not lose the lease; "
                + $"with this TTL use at most {(LeaseTtl / MinRenewalsPerTtl).TotalMilliseconds} ms.",
                [nameof(LeaseRenewInterval), nameof(LeaseTtl)]);
    }
}
