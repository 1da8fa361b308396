using System.Diagnostics;
using ServeAspire.Model;
using ServeAspire.Proxy.LoadBalancing;
using Yarp.ReverseProxy.Forwarder;

namespace ServeAspire.Proxy.Forwarding;

/// <summary>
/// The proxy's spans, under the request's server span: one per attempt (a retry is a second attempt span),
/// each holding the choice of a replica and YARP's HttpClient call to it, whose traceparent the replica
/// continues. Started only when the request is sampled: for the others (nearly all) the cost is reading
/// <see cref="Activity.Current"/>, with no sampler call and no allocation.
/// </summary>
internal static class ProxyTracing
{
    public static readonly ActivitySource Source = new(ServeTelemetry.SourcePrefix + "Proxy");

    public static Activity? StartAttempt(RouteEntry route, int attempt)
    {
        if (Activity.Current is not { Recorded: true }) return null;
        var span = Source.StartActivity("serve.attempt");
        if (span is null) return null;
        span.SetTag("serve.attempt", attempt);
        span.SetTag("application", route.Application);
        span.SetTag("deployment", route.Deployment);
        span.SetTag("route", route.RoutePrefix);
        return span;
    }

    public static Activity? StartChooseReplica(Activity? attempt) =>
        attempt is null ? null : Source.StartActivity("serve.choose_replica");

    /// <summary>What the choice gave: the replica, or why none (no replica, queue full, cold start timed out).</summary>
    public static void Chosen(Activity? span, DeploymentRouter.AcquireStatus status, ReplicaSlot? slot)
    {
        if (span is null) return;
        span.SetTag("serve.acquire", status.ToString());
        if (slot is null) return;
        span.SetTag("replica", slot.Endpoint.ReplicaId);
        span.SetTag("serve.node_id", slot.Endpoint.NodeId);
    }

    public static void Failed(Activity? span, ForwarderError error, bool retryable)
    {
        if (span is null) return;
        span.SetTag("serve.retryable", retryable);
        span.SetStatus(ActivityStatusCode.Error, error.ToString());
    }
}
