using ServeAspire.Model;
using ServeAspire.Proxy.Forwarding;
using ServeAspire.Proxy.Routing;

namespace ServeAspire.Proxy.Apis;

/// <summary>Ray's proxy endpoints under the reserved <c>/-/</c> prefix, and the catch-all ingress.</summary>
internal static class ProxyAdminApi
{
    public const string RoutingVersionHeader = "X-Serve-Routing-Version";

    public static IEndpointRouteBuilder MapProxyAdminApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/-/healthz", (RoutingTableState state, ProxyLifecycle lifecycle, HttpResponse response) =>
        {
            if (lifecycle.Draining)
            {
                // Ray's answer while draining; the header tells the controller DRAINING from DRAINED (nothing in flight).
                response.Headers[ProxyDrain.Header] = lifecycle.InFlight > 0 ? ProxyDrain.Draining : ProxyDrain.Drained;
                return Results.Text("This node is being drained.", statusCode: 503);
            }
            return state.Current.Loaded ? Results.Text("success")
                : Results.Text("This proxy has not received a routing table yet.", statusCode: 503);
        });
        app.MapGet("/-/routes", (RoutingTableState state, HttpResponse response) =>
        {
            var table = state.Current.Table;
            // Which table answered: lets an operator (and the failure tests) see that a change reached this proxy.
            response.Headers[RoutingVersionHeader] = table.Version.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Results.Json(table.Routes.OrderBy(r => r.RoutePrefix, StringComparer.Ordinal).ToDictionary(r => r.RoutePrefix, r => r.Application),
                SharedJson.Web.DictionaryStringString);
        });
        // What this proxy routes with, per deployment, and how long recent routing changes took to reach it
        // (publish at the controller → applied here): for operators and bench/scale.sh.
        app.MapGet("/-/routing", (RoutingTableState state) =>
        {
            var snapshot = state.Current;
            var table = snapshot.Table;
            return Results.Json(new RoutingView(
                table.Version,
                snapshot.Loaded,
                table.Routes.ToDictionary(r => $"{r.Application}/{r.Deployment}", r => new DeploymentRoutingView(
                    table.EntryVersions.GetValueOrDefault(r.Key, table.Version), r.Replicas.Count, r.ScalesFromZero)),
                [.. state.RecentUpdates.Select(u => new RoutingUpdateView(u.Version, u.LagMs))]), ProxyJson.Web.RoutingView);
        });
        // Prometheus text format, open like the other /-/ endpoints: the proxy holds no cluster token.
        app.MapPrometheusMetrics("/-/metrics");
        return app;
    }

    public static void MapServeIngress(this WebApplication app)
    {
        // A fallback endpoint, not terminal middleware: /-/ and /health endpoints must still match first.
        var forwarder = app.Services.GetRequiredService<ReplicaForwarder>();
        app.MapFallback("{**path}", forwarder.HandleAsync);
    }
}

/// <summary>What <c>/-/routing</c> answers.</summary>
internal sealed record RoutingView(long Version, bool Loaded, Dictionary<string, DeploymentRoutingView> Deployments, List<RoutingUpdateView> Updates);

internal sealed record DeploymentRoutingView(long Version, int Replicas, bool ScalesFromZero);

internal sealed record RoutingUpdateView(long Version, double LagMs);

/// <summary>Source-generated JSON for the proxy's own answers (it runs as native code: no reflection-based JSON).</summary>
[System.Text.Json.Serialization.JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web,
    PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower)]
[System.Text.Json.Serialization.JsonSerializable(typeof(RoutingView))]
internal sealed partial class ProxyJson : System.Text.Json.Serialization.JsonSerializerContext
{
    public static ProxyJson Web { get; } = new(SerializerOptions.Create());
}

