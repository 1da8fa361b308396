using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using ServeAspire.Model;
using ServeAspire.Proxy.LoadBalancing;
using ServeAspire.Proxy.Routing;

namespace ServeAspire.Proxy.Forwarding;

/// <summary>
/// Ray Serve's proxy metrics with Ray's names and tags (serve/_private/proxy.py, router.py), on the
/// <see cref="ServeTelemetry.MeterName"/> meter. The per-replica ones (<c>serve_deployment_*</c>,
/// <c>serve_replica_processing_queries</c>) are this proxy's view of its calls to each replica: Ray
/// measures them in the replica, whose process has no scrape endpoint here. Summed over proxies they
/// are the replica's totals.
/// </summary>
/// <remarks>
/// Hot path: no locks and no allocation. A request's tags fit a <see cref="TagList"/> (on the stack, up
/// to 8 inline); status codes are boxed once up front; per-replica tags are an array built when the
/// routing table changes (<see cref="ReplicaSlot.MetricTags"/>). Gauges are read only at collection time.
/// </remarks>
internal sealed class ProxyMetrics
{
    private readonly Counter<long> _requests;
    private readonly Counter<long> _errors;
    private readonly Histogram<double> _latency;
    private readonly Counter<long> _deploymentRequests;
    private readonly Histogram<double> _processingLatency;
    private readonly Counter<long> _retries;

    public ProxyMetrics(IMeterFactory meters, RoutingTableState? routing = null, ProxyLifecycle? lifecycle = null, IOptions<ProxyOptions>? options = null)
    {
        var proxyName = options?.Value.Name ?? "";
        var meter = meters.Create(ServeTelemetry.MeterName);
        _requests = meter.CreateCounter<long>("serve_num_http_requests", description: "The number of HTTP requests processed.");
        _errors = meter.CreateCounter<long>("serve_num_http_error_requests", description: "The number of HTTP requests answered with a status of 400 or more.");
        // No unit: the OTel Prometheus exporter would append "_milliseconds" to a name that already says ms.
        _latency = meter.CreateHistogram("serve_http_request_latency_ms", unit: null,
            description: "The end-to-end latency of HTTP requests (measured from the Serve HTTP proxy).", tags: null, advice: ServeTelemetry.LatencyAdvice);
        _deploymentRequests = meter.CreateCounter<long>("serve_deployment_request_counter",
            description: "The number of queries sent to this replica (by this proxy) that it answered.");
        _processingLatency = meter.CreateHistogram("serve_deployment_processing_latency_ms", unit: null,
            description: "The latency for queries to be processed: this proxy's view, from sending the request to the replica to its last response byte.",
            tags: null, advice: ServeTelemetry.LatencyAdvice);
        _retries = meter.CreateCounter<long>("serve_proxy_request_retries",
            description: "Requests sent again, to another replica, after an attempt failed before any response byte reached the client.");
        if (lifecycle is not null)
            meter.CreateObservableGauge("serve_num_ongoing_http_requests", () => new Measurement<long>(lifecycle.InFlight,
                new KeyValuePair<string, object?>("node_id", proxyName)), description: "The number of ongoing requests in this HTTP proxy.");
        if (routing is not null)
        {
            meter.CreateObservableGauge("serve_replica_processing_queries", () => Processing(routing),
                description: "The current number of queries this proxy has in flight to each replica.");
            meter.CreateObservableGauge("serve_deployment_queued_queries", () => Queued(routing),
                description: "The current number of queries to this deployment waiting in this proxy to be assigned to a replica.");
        }
    }

    /// <summary>One request answered by this proxy (route "" when no route matched: paths are not labels).</summary>
    public void Request(RouteEntry? route, string method, int status, long startedAt)
    {
        if (!_requests.Enabled && !_latency.Enabled) return;
        var code = BoxedStatus(status);
        var tags = new TagList
        {
            { "route", route?.RoutePrefix ?? "" },
            { "method", KnownMethod(method) },
            { "application", route?.Application ?? "" },
            { "status_code", code },
        };
        _requests.Add(1, tags);
        _latency.Record(Stopwatch.GetElapsedTime(startedAt).TotalMilliseconds, tags);
        if (status >= 400)
        {
            var errorTags = new TagList
            {
                { "route", route?.RoutePrefix ?? "" },
                { "error_code", code },
                { "method", KnownMethod(method) },
                { "application", route?.Application ?? "" },
            };
            _errors.Add(1, errorTags);
        }
    }

    /// <summary>A replica answered a forwarded request (any status: the replica processed it).</summary>
    public void ReplicaAnswered(ReplicaSlot slot, long forwardStartedAt)
    {
        var tags = slot.MetricTags;
        _deploymentRequests.Add(1, tags);
        if (_processingLatency.Enabled) _processingLatency.Record(Stopwatch.GetElapsedTime(forwardStartedAt).TotalMilliseconds, tags);
    }

    /// <summary>A request about to be sent again after a failed attempt; <paramref name="error"/> is why (YARP's ForwarderError name).</summary>
    public void Retry(RouteEntry route, string error) =>
        _retries.Add(1, new TagList { { "application", route.Application }, { "deployment", route.Deployment }, { "error", error } });

    private static IEnumerable<Measurement<long>> Processing(RoutingTableState routing)
    {
        foreach (var router in routing.Current.Routers.Values)
            foreach (var slot in router.Slots)
                yield return new Measurement<long>(slot.InFlight, slot.GaugeTags);
    }

    private static IEnumerable<Measurement<long>> Queued(RoutingTableState routing)
    {
        foreach (var router in routing.Current.Routers.Values)
            if (router.Route is { } route)
                yield return new Measurement<long>(router.Queued,
                    new KeyValuePair<string, object?>("deployment", route.Deployment), new KeyValuePair<string, object?>("application", route.Application));
    }

    private static readonly object[] Statuses = Enumerable.Range(0, 600).Select(s => (object)s.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();

    /// <summary>Ray's status_code tag is a string: boxed once per code, never per request.</summary>
    private static object BoxedStatus(int status) => (uint)status < Statuses.Length ? Statuses[status] : "other";

    /// <summary>The method as a label, bounded: a client sending made-up methods must not create series without end.</summary>
    private static string KnownMethod(string method) =>
        HttpMethods.IsGet(method) ? HttpMethods.Get : HttpMethods.IsPost(method) ? HttpMethods.Post : HttpMethods.IsPut(method) ? HttpMethods.Put :
        HttpMethods.IsDelete(method) ? HttpMethods.Delete : HttpMethods.IsHead(method) ? HttpMethods.Head : HttpMethods.IsPatch(method) ? HttpMethods.Patch :
        HttpMethods.IsOptions(method) ? HttpMethods.Options : HttpMethods.IsTrace(method) ? HttpMethods.Trace : HttpMethods.IsConnect(method) ? HttpMethods.Connect : "_OTHER";
}
