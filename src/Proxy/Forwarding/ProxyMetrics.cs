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
        var tags = new KeyValuePair<string, object?>[] { new("application", application ?? ""), new("status_code", status) };
        _requests.Add(1, tags);
        if (status >= 400) _errors.Add(1, tags);
    }
}
