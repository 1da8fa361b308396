using ServeAspire.Model;
using ServeAspire.ReplicaHost.Replicas;
using ServeAspire.ReplicaHost.Telemetry;
using ServeAspire.Security;

namespace ServeAspire.ReplicaHost.Apis;

/// <summary>
/// The node API the controller calls: list, start and stop replica processes. Every call carries the
/// cluster token (checked before this); starts and stops also carry the leader's fencing token.
/// </summary>
internal static class ReplicasApi
{
    /// <summary>
    /// Which requests need the cluster token: all but the health probes and simulated replicas' traffic
    /// (<see cref="SimulatedReplicasApi"/>), which proxies forward without one, as they do to real replicas.
    /// </summary>
    public static bool RequiresClusterToken(PathString path) =>
        !path.StartsWithSegments("/health") && !path.StartsWithSegments("/alive") && !path.StartsWithSegments(SimulatedReplicasApi.Prefix);

    public static IEndpointRouteBuilder MapReplicasApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/replicas", (HttpRequest http, LeaderTokens fencing, ReplicaSupervisor s) =>
        {
            fencing.Observe(http.Headers[LeaderTokens.Header]);
            return Results.Json(s.List(), SerializerOptions.Default);
        });
        app.MapPost("/replicas", (StartReplicaRequest request, HttpRequest http, LeaderTokens fencing, ReplicaSupervisor s) =>
        {
            if (fencing.Admit(http.Headers[LeaderTokens.Header]) is { } refused)
                return Results.Json(new { error = refused }, SerializerOptions.Default, statusCode: 409);
            if (string.IsNullOrWhiteSpace(request.ReplicaId) || string.IsNullOrWhiteSpace(request.ImportPath))
                return Results.Json(new { error = "replica_id and import_path are required" }, SerializerOptions.Default, statusCode: 400);
            using var span = NodeTracing.StartReplicaStart(request);
            try
            {
                var started = s.Start(request);
                span?.SetTag("serve.pid", started.Pid);
                return Results.Json(started, SerializerOptions.Default, statusCode: 202);
            }
            catch (InvalidOperationException ex)
            {
                span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, ex.Message);
                return Results.Json(new { error = ex.Message }, SerializerOptions.Default, statusCode: 503);
            }
        });
        app.MapDelete("/replicas/{replicaId}", (string replicaId, HttpRequest http, LeaderTokens fencing, ReplicaSupervisor s) =>
        {
            if (fencing.Admit(http.Headers[LeaderTokens.Header]) is { } refused)
                return Results.Json(new { error = refused }, SerializerOptions.Default, statusCode: 409);
            return s.Stop(replicaId) ? Results.Accepted() : Results.Json(new { error = $"no replica '{replicaId}' on this node" }, SerializerOptions.Default, statusCode: 404);
        });
        app.MapPost("/replicas/{replicaId}/kill", (string replicaId, KillReplicaRequest request, HttpRequest http, LeaderTokens fencing, ReplicaSupervisor s) =>
        {
            if (fencing.Admit(http.Headers[LeaderTokens.Header]) is { } refused)
                return Results.Json(new { error = refused }, SerializerOptions.Default, statusCode: 409);
            try
            {
                return s.Kill(replicaId, request.Restart, request.Reason ?? "killed by the kill API") is { } info
                    ? Results.Json(info, SerializerOptions.Default)
                    : Results.Json(new { error = $"no live replica '{replicaId}' on this node" }, SerializerOptions.Default, statusCode: 404);
            }
            catch (InvalidOperationException ex)
            {
                return Results.Json(new { error = ex.Message }, SerializerOptions.Default, statusCode: 503);
            }
        });
        app.MapPost("/replicas/{replicaId}/reconfigure", (string replicaId, ReconfigureReplicaRequest request, HttpRequest http, LeaderTokens fencing, ReplicaSupervisor s) =>
        {
            if (fencing.Admit(http.Headers[LeaderTokens.Header]) is { } refused)
                return Results.Json(new { error = refused }, SerializerOptions.Default, statusCode: 409);
            if (string.IsNullOrWhiteSpace(request.UserConfigVersion) || request.UserConfig is null)
                return Results.Json(new { error = "user_config and user_config_version are required" }, SerializerOptions.Default, statusCode: 400);
            return s.Reconfigure(replicaId, request) ? Results.Accepted() : Results.Json(new { error = $"no live replica '{replicaId}' on this node" }, SerializerOptions.Default, statusCode: 404);
        });
        // Prometheus text format: behind the cluster token like the rest of this API (RequiresClusterToken).
        // The node's instruments exist once NodeMetrics does: created here, with the endpoint that shows them.
        _ = app.ServiceProvider.GetRequiredService<NodeMetrics>();
        app.MapPrometheusMetrics("/metrics");
        return app;
    }
}
