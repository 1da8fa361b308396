using ServeAspire.Proxy.Forwarding;
using ServeAspire.Proxy.Routing;

namespace ServeAspire.Proxy.Apis;

/// <summary>Ray's proxy endpoints under the reserved <c>/-/</c> prefix, and the catch-all ingress.</summary>
internal static class ProxyAdminApi
{
    public const string RoutingVersionHeader = "X-Serve-Routing-Version";

    public static IEndpointRouteBuilder MapProxyAdminApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/-/healthz", (RoutingTableState state, ProxyLifecycle lifecycle) =>
            lifecycle.Draining ? Results.Text("This node is being drained.", statusCode: 503)
            : state.Current.Loaded ? Results.Text("success")
            : Results.Text("This proxy has not received a routing table yet.", statusCode: 503));
        app.MapGet("/-/routes", (RoutingTableState state, HttpResponse response) =>
        {
            var table = state.Current.Table;
            // Which table answered: lets an operator (and the failure tests) see that a change reached this proxy.
            response.Headers[RoutingVersionHeader] = table.Version.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Results.Json(table.Routes.OrderBy(r => r.RoutePrefix, StringComparer.Ordinal).ToDictionary(r => r.RoutePrefix, r => r.Application));
        });
        return app;
    }

    public static void MapServeIngress(this WebApplication app)
    {
        // A fallback endpoint, not terminal middleware: /-/ and /health endpoints must still match first.
        var forwarder = app.Services.GetRequiredService<ReplicaForwarder>();
        app.MapFallback("{**path}", forwarder.HandleAsync);
    }
}
