using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace ServeAspire.Proxy.Forwarding;

/// <summary>Ray Serve's proxy metric names, on the "ServeAspire" meter (exported by OpenTelemetry).</summary>
internal sealed class ProxyMetrics
{
    private readonly Counter<long> _requests;
    private readonly Counter<long> _errors;

    public ProxyMetrics(IMeterFactory meters)
    {
        var meter = meters.Create("ServeAspire");
        _requests = meter.CreateCounter<long>("serve_num_http_requests", description: "HTTP requests processed by the proxy");
        _errors = meter.CreateCounter<long>("serve_num_http_error_requests", description: "HTTP requests answered with a status >= 400");
    }

    public void Request(string? application, int status)
    {
        // TagList lives on the stack; the common 200 reuses one boxed value, other codes box per call.
        var tags = new TagList { { "application", application ?? "" }, { "status_code", status == 200 ? Boxed200 : status } };
        _requests.Add(1, tags);
        if (status >= 400) _errors.Add(1, tags);
    }

    private static readonly object Boxed200 = 200;
}
