using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Options;
using ServeAspire.Model;
using ServeAspire.Proxy.LoadBalancing;
using ServeAspire.Proxy.Routing;
using Yarp.ReverseProxy.Forwarder;

namespace ServeAspire.Proxy.Forwarding;

/// <summary>
/// The data path: match the route, choose a replica, forward with YARP's forwarder. A connection
/// failure before any response byte is retried on another replica (for requests without a body,
/// which can be replayed); the failed replica is avoided until the routing table lists it again.
/// </summary>
internal sealed partial class ReplicaForwarder(
    RoutingTableState state,
    RouterRegistry routers,
    IHttpForwarder forwarder,
    ProxyMetrics metrics,
    IOptions<ProxyOptions> options,
    ILogger<ReplicaForwarder> logger)
{
    private readonly HttpMessageInvoker _client = new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
        ConnectTimeout = TimeSpan.FromSeconds(2),
        ActivityHeadersPropagator = new ReverseProxyPropagator(DistributedContextPropagator.Current),
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
    });

    public async Task HandleAsync(HttpContext context)
    {
        var snapshot = state.Current;
        if (!snapshot.Loaded)
        {
            await ErrorAsync(context, 503, "this proxy has not received a routing table yet", retryAfter: true);
            return;
        }
        var path = context.Request.Path.Value ?? "/";
        var route = snapshot.Matcher.Match(path);
        if (route is null)
        {
            metrics.Request(null, 404);
            await ErrorAsync(context, 404, $"Path '{path}' not found. Ping http://{context.Request.Host}/-/routes for available routes.");
            return;
        }
        var router = routers.Get(route);
        if (router is null || router.Slots.Count == 0)
        {
            metrics.Request(route.Application, 503);
            await ErrorAsync(context, 503, $"deployment '{route.Deployment}' of application '{route.Application}' has no running replica", retryAfter: true);
            return;
        }

        var timeout = snapshot.Table.RequestTimeoutS is { } s ? TimeSpan.FromSeconds(s) : options.Value.DefaultActivityTimeout;
        var requestConfig = new ForwarderRequestConfig { ActivityTimeout = timeout };
        var replayable = HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method) || HttpMethods.IsOptions(context.Request.Method)
            ? context.Request.ContentLength is null or 0 && !context.Request.Headers.ContainsKey("Transfer-Encoding")
            : context.Request.ContentLength == 0;
        HashSet<ReplicaSlot>? tried = null;
        for (var attempt = 1; ; attempt++)
        {
            var (status, slot) = await router.AcquireAsync(tried, context.RequestAborted);
            if (slot is null)
            {
                metrics.Request(route.Application, 503);
                await ErrorAsync(context, 503, status == DeploymentRouter.AcquireStatus.QueueFull
                    ? $"deployment '{route.Deployment}' is at max_ongoing_requests on every replica and its queue (max_queued_requests={route.MaxQueuedRequests}) is full"
                    : $"deployment '{route.Deployment}' of application '{route.Application}' has no reachable replica", retryAfter: true);
                return;
            }
            ForwarderError error;
            try
            {
                error = await forwarder.SendAsync(context, slot.Endpoint.Url, _client, requestConfig, HttpTransformer.Default);
            }
            finally
            {
                router.Release(slot);
            }
            if (error == ForwarderError.None)
            {
                metrics.Request(route.Application, context.Response.StatusCode);
                return;
            }
            var connectFailed = error is ForwarderError.Request && !context.Response.HasStarted;
            if (connectFailed) slot.Suspect = true;
            Log.ForwardFailed(logger, route.Deployment, slot.Endpoint.ReplicaId, slot.Endpoint.NodeId, error, attempt);
            if (!connectFailed || !replayable || attempt >= options.Value.MaxAttempts || context.RequestAborted.IsCancellationRequested)
            {
                metrics.Request(route.Application, context.Response.StatusCode);
                return;
            }
            // Nothing reached the client: reset what YARP set and try another replica.
            context.Features.Set<IForwarderErrorFeature>(null);
            context.Response.StatusCode = StatusCodes.Status200OK;
            (tried ??= []).Add(slot);
        }
    }

    private static Task ErrorAsync(HttpContext context, int status, string message, bool retryAfter = false)
    {
        context.Response.StatusCode = status;
        if (retryAfter) context.Response.Headers.RetryAfter = "1";
        return context.Response.WriteAsJsonAsync(new { error = message, status }, SerializerOptions.Default);
    }

    private static partial class Log
    {
        [LoggerMessage(210, LogLevel.Warning, "Forwarding to {Deployment}#{ReplicaId} on {NodeId} failed: {Error} (attempt {Attempt})")]
        public static partial void ForwardFailed(ILogger logger, string deployment, string replicaId, string nodeId, ForwarderError error, int attempt);
    }
}
