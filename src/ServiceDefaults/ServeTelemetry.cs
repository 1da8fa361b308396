using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The names every service's telemetry shares: one meter (Ray Serve's metric names live on it), one
/// ActivitySource per service, Ray's latency buckets, and the Prometheus scrape endpoint.
/// docs/observability.md lists every metric and span.
/// </summary>
public static class ServeTelemetry
{
    /// <summary>The meter every ServeAspire instrument is created on (registered with AddMeter).</summary>
    public const string MeterName = "ServeAspire";

    /// <summary>Prefix of the per-service ActivitySources (<c>ServeAspire.Proxy</c>, <c>.Controller</c>, <c>.Node</c>), registered by wildcard.</summary>
    public const string SourcePrefix = "ServeAspire.";

    /// <summary>
    /// A tag given when a span starts: this background root (not a request) is worth a trace of its own,
    /// so the sampler treats it like a request (per-second allowance, then the ratio) rather than as routine polling.
    /// </summary>
    public const string TraceRootTag = "serve.trace_root";

    /// <summary>Ray Serve's DEFAULT_LATENCY_BUCKET_MS (serve/_private/constants.py), for every *_latency_ms histogram.</summary>
    public static readonly IReadOnlyList<double> LatencyBucketsMs =
        [1, 2, 5, 10, 20, 50, 100, 200, 300, 400, 500, 1000, 2000, 5000, 10000, 60000, 120000, 300000, 600000];

    /// <summary>Ray's buckets as instrument advice (the SDK uses them unless a view says otherwise).</summary>
    public static System.Diagnostics.Metrics.InstrumentAdvice<double> LatencyAdvice { get; } = new() { HistogramBucketBoundaries = LatencyBucketsMs };

    /// <summary>
    /// Adds the Prometheus exporter to this service's metrics (a second reader beside OTLP: instruments are
    /// aggregated for both, so only services that expose an endpoint call this; replica processes do not).
    /// </summary>
    public static TBuilder AddPrometheusMetrics<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddOpenTelemetry().WithMetrics(m => m.AddPrometheusExporter(o =>
            // Every scrape sees the current values: a 300 ms cached answer would hide the requests a test (or an operator) just sent.
            o.ScrapeResponseCacheDurationMilliseconds = 0));
        return builder;
    }

    /// <summary>Serves the Prometheus text format at <paramref name="path"/> (the caller decides who may read it).</summary>
    public static IEndpointConventionBuilder MapPrometheusMetrics(this IEndpointRouteBuilder app, string path) =>
        app.MapPrometheusScrapingEndpoint(path);

    /// <summary>Starts a span that is a root even when something else is current (routine work must not hang under a request, or vice versa).</summary>
    public static Activity? StartRoot(this ActivitySource source, string name, ActivityKind kind = ActivityKind.Internal,
        IEnumerable<KeyValuePair<string, object?>>? tags = null, DateTimeOffset startTime = default)
    {
        if (!source.HasListeners()) return null;
        var previous = Activity.Current;
        Activity.Current = null;
        try { return source.StartActivity(name, kind, parentContext: default, tags, links: null, startTime); }
        finally
        {
            // StartActivity made the new span current; the caller's ambient span comes back when it is disposed.
            if (Activity.Current is null) Activity.Current = previous;
        }
    }
}
