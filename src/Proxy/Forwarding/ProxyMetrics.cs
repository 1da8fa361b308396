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
        // TagList lives on the stack; the status boxes only for the few codes the runtime does not cache.
        var tags = new TagList { { "application", application ?? "" }, { "status_code", StatusCodes.Box(status) } };
        _requests.Add(1, tags);
        if (status >= 400) _errors.Add(1, tags);
    }

    private static class StatusCodes
    {
        private static readonly object Ok = 200;
        public static object Box(int status) => status == 200 ? Ok : status;
    }
}
