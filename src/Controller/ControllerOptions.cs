using System.ComponentModel.DataAnnotations;

namespace ServeAspire.Controller;

/// <summary>Settings of the controller (section <c>Controller</c>).</summary>
public sealed class ControllerOptions
{
    public const string Section = "Controller";

    /// <summary>REST API address (Ray's dashboard port 8265).</summary>
    [Required] public string Url { get; set; } = "http://127.0.0.1:8265";

    [Required] public string Cluster { get; set; } = "default";

    /// <summary>Period of the control loop (Ray's CONTROL_LOOP_INTERVAL_S is 0.1 s; a node poll per tick wants longer).</summary>
    public TimeSpan TickInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Deadline of one call to a node.</summary>
    public TimeSpan NodeCallTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long a replica leaving the routing table waits before its node is told to stop it, so
    /// proxies have the new table before the replica stops accepting.
    /// </summary>
    public TimeSpan RouteWithdrawDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How many dead actors <c>/api/actors</c> remembers.</summary>
    [Range(0, 10_000)] public int DeadActorHistory { get; set; } = 200;
}
