using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;
using ServeAspire.Model;
using ServeAspire.Proxy.LoadBalancing;
using ServeAspire.Proxy.Routing;
using Yarp.ReverseProxy.Forwarder;

namespace ServeAspire.Proxy.Forwarding;

/// <summary>
/// The data path: match the route, choose a replica, forward with YARP's forwarder, and when a
/// replica fails the request before any response byte reached the client, try another replica
/// (Polly retry: bounded attempts, exponential backoff with jitter). A request that never reached
/// its replica (connection refused) is always retried; one that died mid-flight only when it is
/// safe: an idempotent method, or a deployment with <c>retry_on_failure</c>, and a body that could
/// be buffered. <c>request_timeout_s</c> bounds the whole request (queueing included) → 408.
/// </summary>
internal sealed partial class ReplicaForwarder
{
    private readonly RoutingTableState _state;
    private readonly IHttpForwarder _forwarder;
    private readonly ProxyMetrics _metrics;
    private readonly ProxyOptions _options;
    private readonly ILogger<ReplicaForwarder> _logger;
    private readonly ProxyLifecycle _lifecycle;
    private readonly ResiliencePipeline<Attempt> _retry;
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

    private readonly UnresponsiveReplicaReporter _unresponsive;
    private readonly ForwarderRequestConfig _requestConfig;

    public ReplicaForwarder(RoutingTableState state, IHttpForwarder forwarder, ProxyMetrics metrics,
        IOptions<ProxyOptions> options, ProxyLifecycle lifecycle, UnresponsiveReplicaReporter unresponsive, ILogger<ReplicaForwarder> logger)
    {
        _unresponsive = unresponsive;
        _lifecycle = lifecycle;
        _state = state;
        _forwarder = forwarder;
        _metrics = metrics;
        _options = options.Value;
        _logger = logger;
        _requestConfig = new ForwarderRequestConfig { ActivityTimeout = _options.DefaultActivityTimeout };
        _retry = new ResiliencePipelineBuilder<Attempt>()
            .AddRetry(new RetryStrategyOptions<Attempt>
            {
                MaxRetryAttempts = _options.MaxAttempts - 1,
                Delay = _options.RetryBaseDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Result is { Retryable: true }),
            })
            .Build();
    }

    /// <summary>One try on one replica.</summary>
    /// <param name="ForwardStartedAt">Stopwatch timestamp when the request reached the replica (0: it never did).</param>
    private readonly record struct Attempt(ForwarderError Error, ReplicaSlot? Slot, DeploymentRouter.AcquireStatus Acquire, bool Retryable, long ForwardStartedAt = 0);

    public async Task HandleAsync(HttpContext context)
    {
        _lifecycle.RequestStarted();
        try { await ForwardAsync(context, Stopwatch.GetTimestamp()); }
        finally { _lifecycle.RequestEnded(); }
    }

    /// <summary>
    /// One request's state across its attempts: passed to Polly as state (a static callback), so a
    /// request costs this one object rather than a closure, its delegate and a set of tried replicas.
    /// </summary>
    private sealed class Call(ReplicaForwarder forwarder, HttpContext context, RouteEntry route, DeploymentRouter router, bool replayableBody, bool safeToReplay)
    {
        public int Attempts;
        private HashSet<ReplicaSlot>? _tried; // only after a failure
        private ForwarderError _lastError;

        public async ValueTask<Attempt> AttemptAsync(CancellationToken ct)
        {
            if (Attempts++ > 0)
            {
                ResetForRetry(context);
                forwarder._metrics.Retry(route, _lastError.ToString());
            }
            // Spans only under a sampled request: an unsampled one (nearly all of them) pays one field read.
            using var span = ProxyTracing.StartAttempt(route, Attempts);
            ReplicaSlot? slot;
            DeploymentRouter.AcquireStatus status;
            using (var choosing = ProxyTracing.StartChooseReplica(span))
            {
                (status, slot) = await router.AcquireAsync(_tried, ct);
                ProxyTracing.Chosen(choosing, status, slot);
            }
            if (slot is null)
            {
                span?.SetStatus(ActivityStatusCode.Error, status.ToString());
                return new Attempt(ForwarderError.None, null, status, false);
            }
            ProxyTracing.Chosen(span, status, slot);
            ForwarderError error;
            var forwardStartedAt = Stopwatch.GetTimestamp();
            try
            {
                error = await forwarder._forwarder.SendAsync(context, slot.Endpoint.Url, forwarder._client, forwarder._requestConfig, HttpTransformer.Default);
            }
            finally
            {
                router.Release(slot);
            }
            if (error == ForwarderError.None) return new Attempt(error, slot, status, false, forwardStartedAt);
            _lastError = error;

            var neverReached = NeverReachedReplica(context);
            if (error is ForwarderError.Request or ForwarderError.RequestTimedOut or ForwarderError.ResponseHeaders && !ct.IsCancellationRequested)
                slot.MarkSuspect(forwarder._options.SuspectFor);
            (_tried ??= []).Add(slot);
            var retryable = !context.Response.HasStarted && !ct.IsCancellationRequested &&
                error is ForwarderError.Request or ForwarderError.RequestTimedOut or ForwarderError.ResponseHeaders &&
                (neverReached ? replayableBody : safeToReplay);
            Log.AttemptFailed(forwarder._logger, route.Deployment, slot.Endpoint.ReplicaId, slot.Endpoint.NodeId, error, Attempts, retryable);
            ProxyTracing.Failed(span, error, retryable);
            return new Attempt(error, slot, status, retryable, forwardStartedAt);
        }
    }

    private async Task ForwardAsync(HttpContext context, long startedAt)
    {
        var snapshot = _state.Current;
        if (!snapshot.Loaded)
        {
            _metrics.Request(null, context.Request.Method, 503, startedAt);
            await ErrorAsync(context, 503, "this proxy has not received a routing table yet", retryAfter: true);
            return;
        }
        var path = context.Request.Path.Value ?? "/";
        var route = snapshot.Matcher.Match(path);
        if (route is null)
        {
            _metrics.Request(null, context.Request.Method, 404, startedAt);
            await ErrorAsync(context, 404, $"Path '{path}' not found. Ping http://{context.Request.Host}/-/routes for available routes.");
            return;
        }
        var router = snapshot.RouterFor(route);
        // A deployment that scales from zero has no replica on purpose: the request waits in its queue instead.
        if (router is null || router.Slots.Count == 0 && !route.ScalesFromZero)
        {
            _metrics.Request(route, context.Request.Method, 503, startedAt);
            await ErrorAsync(context, 503, $"deployment '{route.Deployment}' of application '{route.Application}' has no running replica", retryAfter: true);
            return;
        }

        // request_timeout_s covers the whole request; YARP aborts the forward when this token fires.
        // Without one (Ray's default) the client's own abort is all there is: no extra token source.
        var clientAborted = context.RequestAborted;
        CancellationTokenSource? deadline = null;
        if (snapshot.Table.RequestTimeoutS is { } timeoutS)
        {
            deadline = CancellationTokenSource.CreateLinkedTokenSource(clientAborted);
            deadline.CancelAfter(TimeSpan.FromSeconds(timeoutS));
            context.RequestAborted = deadline.Token;
        }
        using var _ = deadline;
        var token = context.RequestAborted;

        var replayableBody = await BufferBodyAsync(context.Request);
        var safeToReplay = (IsIdempotent(context.Request.Method) || route.RetryOnFailure) && replayableBody;
        var call = new Call(this, context, route, router, replayableBody, safeToReplay);

        Attempt result;
        try
        {
            result = await _retry.ExecuteAsync(static (c, ct) => c.AttemptAsync(ct), call, token);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            result = new Attempt(ForwarderError.RequestCanceled, null, DeploymentRouter.AcquireStatus.Acquired, false);
        }
        context.RequestAborted = clientAborted;
        var timedOut = deadline is not null && deadline.IsCancellationRequested && !clientAborted.IsCancellationRequested;
        await CompleteAsync(context, route, result, call.Attempts, timedOut, snapshot.Table.RequestTimeoutS, startedAt);
    }

    private async Task CompleteAsync(HttpContext context, RouteEntry route, Attempt result, int attempts, bool timedOut, double? timeoutS, long startedAt)
    {
        if (result.Slot is null && result.Error == ForwarderError.None)
        {
            _metrics.Request(route, context.Request.Method, 503, startedAt);
            if (result.Acquire == DeploymentRouter.AcquireStatus.ColdStartTimedOut)
                Log.ColdStartTimedOut(_logger, route.Application, route.Deployment, _options.ColdStartTimeout.TotalSeconds);
            await ErrorAsync(context, 503, result.Acquire switch
            {
                DeploymentRouter.AcquireStatus.QueueFull =>
                    $"deployment '{route.Deployment}' is at max_ongoing_requests on every replica and its queue (max_queued_requests={route.MaxQueuedRequests}) is full",
                DeploymentRouter.AcquireStatus.ColdStartTimedOut =>
                    $"deployment '{route.Deployment}' of application '{route.Application}' has no running replica: it scales from zero (min_replicas: 0) and no replica became available within {_options.ColdStartTimeout.TotalSeconds:0.###} s (Proxy:ColdStartTimeout; set http_options.request_timeout_s to bound the wait instead)",
                _ => $"deployment '{route.Deployment}' of application '{route.Application}' has no reachable replica (tried {attempts})",
            }, retryAfter: true);
            return;
        }
        if (result.Error == ForwarderError.None)
        {
            if (result.Slot is { } answered)
            {
                answered.RecordAnswer();
                _metrics.ReplicaAnswered(answered, result.ForwardStartedAt);
            }
            _metrics.Request(route, context.Request.Method, context.Response.StatusCode, startedAt);
            return;
        }
        // Counted only when the replica itself held the request for at least half of request_timeout_s:
        // time lost queueing at this proxy or on an earlier attempt is not the replica's fault.
        if (timedOut && result.Slot is { } hung && timeoutS is { } budget && result.ForwardStartedAt != 0 &&
            Stopwatch.GetElapsedTime(result.ForwardStartedAt) >= TimeSpan.FromSeconds(budget / 2) &&
            hung.RecordTimeout() % _options.TimeoutsBeforeUnresponsive == 0)
        {
            // The same replica keeps hanging: avoid it here, and have the controller replace it.
            hung.MarkSuspect(_options.SuspectFor);
            _unresponsive.Report(hung.Endpoint, route.Deployment, _options.TimeoutsBeforeUnresponsive, timeoutS);
        }
        if (context.Response.HasStarted || context.RequestAborted.IsCancellationRequested && !timedOut)
        {
            _metrics.Request(route, context.Request.Method, 499, startedAt);
            return; // nothing more can be said to this client
        }
        ResetForRetry(context);
        if (timedOut)
        {
            _metrics.Request(route, context.Request.Method, 408, startedAt);
            await ErrorAsync(context, 408, $"request to deployment '{route.Deployment}' exceeded request_timeout_s={timeoutS}");
            return;
        }
        _metrics.Request(route, context.Request.Method, 502, startedAt);
        await ErrorAsync(context, 502, $"replica {result.Slot?.Endpoint.ReplicaId} of deployment '{route.Deployment}' failed the request ({result.Error}) after {attempts} attempt(s)" +
            (result.Retryable ? "" : "; not retried: the request is not safe to replay (a non-idempotent method without retry_on_failure, or an unbuffered body)"));
    }

    /// <summary>Buffers a body of known size up to the limit so a retry can replay it; false when it cannot be replayed.</summary>
    private async Task<bool> BufferBodyAsync(HttpRequest request)
    {
        var length = request.ContentLength;
        if (length == 0 || (length is null && !request.Headers.ContainsKey("Transfer-Encoding"))) return true;
        if (length is null || length > _options.MaxReplayBodyBytes) return false;
        request.EnableBuffering(bufferThreshold: (int)length.Value, bufferLimit: _options.MaxReplayBodyBytes);
        await request.Body.DrainAsync(request.HttpContext.RequestAborted);
        request.Body.Position = 0;
        return true;
    }

    private static void ResetForRetry(HttpContext context)
    {
        context.Features.Set<IForwarderErrorFeature>(null);
        context.Response.Clear();
        context.Response.StatusCode = StatusCodes.Status200OK;
        if (context.Request.Body.CanSeek) context.Request.Body.Position = 0;
    }

    /// <summary>True when the connection was never established: the replica cannot have seen the request.</summary>
    private static bool NeverReachedReplica(HttpContext context) =>
        context.Features.Get<IForwarderErrorFeature>()?.Exception is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError };

    private static bool IsIdempotent(string method) =>
        HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method) ||
        HttpMethods.IsPut(method) || HttpMethods.IsDelete(method) || HttpMethods.IsTrace(method);

    private static Task ErrorAsync(HttpContext context, int status, string message, bool retryAfter = false)
    {
        context.Response.StatusCode = status;
        if (retryAfter) context.Response.Headers.RetryAfter = "1";
        return context.Response.WriteAsJsonAsync(new ErrorBody(message, status), SharedJson.Web.ErrorBody);
    }

    private static partial class Log
    {
        [LoggerMessage(210, LogLevel.Warning, "Forwarding to {Deployment}#{ReplicaId} on {NodeId} failed: {Error} (attempt {Attempt}, will retry: {Retryable})")]
        public static partial void AttemptFailed(ILogger logger, string deployment, string replicaId, string nodeId, ForwarderError error, int attempt, bool retryable);

        [LoggerMessage(211, LogLevel.Warning, "A request to {Application}/{Deployment} waited {TimeoutS} s for a first replica (scale from zero) and got none: 503")]
        public static partial void ColdStartTimedOut(ILogger logger, string application, string deployment, double timeoutS);
    }
}
