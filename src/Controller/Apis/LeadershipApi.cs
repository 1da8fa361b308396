using ServeAspire.Controller.ControlLoop;
using ServeAspire.Controller.Leadership;
using ServeAspire.Model;
using Yarp.ReverseProxy.Forwarder;

namespace ServeAspire.Controller.Apis;

/// <summary>
/// Any instance answers the REST API: the leader itself; a standby forwards to the leader named in
/// the lease, or answers 503 with Retry-After while no one leads (an election is under way).
/// <c>/api/controller/status</c> always answers for the instance reached.
/// </summary>
internal static class LeadershipApi
{
    public static IEndpointRouteBuilder MapLeadershipApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/controller/status", (LeaderState leader, ControlLoopService loop) => Results.Json(new
        {
            instance_id = leader.InstanceId,
            pid = Environment.ProcessId,
            address = leader.InternalAddress,
            is_leader = leader.IsLeader,
            recovered = loop.ReadyFor(leader.Token),
            token = leader.Token,
            // What the process itself believes, fresh or not: after a pause past the lease is_leader/token
            // read false/0 at once, while holds_tenure stays true until the election loop has stepped down.
            holds_tenure = leader.HoldsTenure,
            tenure_token = leader.TenureToken,
            fenced_writes = leader.FencedWrites,
            fenced_node_calls = leader.FencedNodeCalls,
            ticks = loop.Ticks,
            leader = leader.Leader,
        }, SerializerOptions.Default));
        return app;
    }

    public static IApplicationBuilder UseLeaderForwarding(this IApplicationBuilder app)
    {
        var leader = app.ApplicationServices.GetRequiredService<LeaderState>();
        var loop = app.ApplicationServices.GetRequiredService<ControlLoopService>();
        var forwarder = app.ApplicationServices.GetRequiredService<IHttpForwarder>();
        var client = new HttpMessageInvoker(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false, UseCookies = false, ConnectTimeout = TimeSpan.FromSeconds(2) });
        return app.Use(async (context, next) =>
        {
            var path = context.Request.Path;
            if (!path.StartsWithSegments("/api") || path.StartsWithSegments("/api/controller"))
            {
                await next(context);
                return;
            }
            if (leader.IsLeader)
            {
                if (loop.ReadyFor(leader.Token)) await next(context);
                else await UnavailableAsync(context, "this controller just became leader and is recovering its state");
                return;
            }
            var lease = leader.Leader;
            // Forward one hop at most: a forwarded request reaching a non-leader means leadership moved.
            if (lease is null || lease.Holder == leader.InstanceId || context.Request.Headers.ContainsKey(ForwardedHeader))
            {
                await UnavailableAsync(context, "no controller leads right now (an election is under way)");
                return;
            }
            context.Request.Headers[ForwardedHeader] = leader.InstanceId;
            var error = await forwarder.SendAsync(context, lease.Address, client);
            if (error != ForwarderError.None && !context.Response.HasStarted)
            {
                context.Features.Set<IForwarderErrorFeature>(null);
                await UnavailableAsync(context, $"the leader at {lease.Address} did not answer ({error})");
            }
        });
    }

    private const string ForwardedHeader = "X-Serve-Forwarded-By";

    private static Task UnavailableAsync(HttpContext context, string reason)
    {
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        context.Response.Headers.RetryAfter = "1";
        return context.Response.WriteAsJsonAsync(new { error = reason }, SerializerOptions.Default);
    }
}
