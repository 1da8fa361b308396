using System.ComponentModel.DataAnnotations;

namespace ServeAspire.Proxy;

/// <summary>Settings of a proxy (section <c>Proxy</c>).</summary>
public sealed class ProxyOptions
{
    public const string Section = "Proxy";

    /// <summary>Actor name of this proxy (the AppHost sets proxy-0, proxy-1, …).</summary>
    [Required] public string Name { get; set; } = "proxy-0";

    /// <summary>HTTP ingress address (Ray's http_options host/port).</summary>
    [Required] public string Url { get; set; } = "http://127.0.0.1:8000";

    /// <summary>
    /// The address registered for the controller's probes and the State API, when it differs from the one
    /// bound (a pod binds 0.0.0.0 and advertises its pod IP). Default: <see cref="Url"/>.
    /// </summary>
    public string? AdvertisedUrl { get; set; }

    public string EffectiveAdvertisedUrl => string.IsNullOrWhiteSpace(AdvertisedUrl) ? Url : AdvertisedUrl;

    [Required] public string Cluster { get; set; } = "default";

    /// <summary>Fallback poll of the routing table, should a push be missed.</summary>
    public TimeSpan RoutesPollInterval { get; set; } = TimeSpan.FromSeconds(2);

    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);
    public TimeSpan HeartbeatTtl { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Per-attempt idle timeout when http_options.request_timeout_s is unset.</summary>
    public TimeSpan DefaultActivityTimeout { get; set; } = TimeSpan.FromSeconds(100);

    /// <summary>How many replicas one request may try when a replica fails it.</summary>
    [Range(1, 10)] public int MaxAttempts { get; set; } = 3;

    /// <summary>First retry delay (exponential with jitter after that).</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Request bodies up to this size are buffered so they can be replayed on another replica.</summary>
    [Range(0, 64 * 1024 * 1024)] public int MaxReplayBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>On SIGTERM, how long the proxy keeps serving with healthz at 503 before it stops accepting.</summary>
    public TimeSpan DrainPeriod { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>On SIGTERM, how long in-flight requests may take to finish after the drain period.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Requests in a row that hit request_timeout_s on one replica, with no answer from it in between,
    /// before this proxy reports it unresponsive to the controller (which replaces it). A replica that
    /// hangs in CallAsync may still pass its health check; Ray does not catch that, we do.
    /// </summary>
    [Range(1, 1000)] public int TimeoutsBeforeUnresponsive { get; set; } = 3;

    /// <summary>
    /// How long a request waits for the first replica of a deployment that scales from zero (<c>min_replicas: 0</c>)
    /// when http_options.request_timeout_s is unset (when set, it bounds the wait: 408); then 503.
    /// </summary>
    // The generated validator below checks this range itself; nothing reads the attribute by reflection.
#pragma warning disable IL2026
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
#pragma warning restore IL2026
    public TimeSpan ColdStartTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a replica that failed a connection is avoided (unless nothing else is left).</summary>
    public TimeSpan SuspectFor { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// Checks <see cref="ProxyOptions"/>' <c>[Required]</c> and <c>[Range]</c> attributes with code generated at
/// compile time: the proxy runs as native code, where DataAnnotations' reflection cannot.
/// </summary>
[Microsoft.Extensions.Options.OptionsValidator]
internal sealed partial class ProxyOptionsValidator : Microsoft.Extensions.Options.IValidateOptions<ProxyOptions>;
