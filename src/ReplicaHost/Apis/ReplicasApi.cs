using ServeAspire.Model;
using ServeAspire.ReplicaHost.Replicas;

namespace ServeAspire.ReplicaHost.Apis;

/// <summary>The node API the controller calls: list, start and stop replica processes.</summary>
internal static class ReplicasApi
{
    public static IEndpointRouteBuilder MapReplicasApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/replicas", (ReplicaSupervisor s) => Results.Json(s.List(), SerializerOptions.Default));
        app.MapPost("/replicas", (StartReplicaRequest request, ReplicaSupervisor s) =>
        {
            if (string.IsNullOrWhiteSpace(request.ReplicaId) || string.IsNullOrWhiteSpace(request.ImportPath))
                return Results.Json(new { error = "replica_id and import_path are required" }, SerializerOptions.Default, statusCode: 400);
            try
            {
                return Results.Json(s.Start(request), SerializerOptions.Default, statusCode: 202);
            }
            catch (InvalidOperationException ex)
            {
                return Results.Json(new { error = ex.Message }, SerializerOptions.Default, statusCode: 503);
            }
        });
        app.MapDelete("/replicas/{replicaId}", (string replicaId, ReplicaSupervisor s) =>
            s.Stop(replicaId) ? Results.Accepted() : Results.Json(new { error = $"no replica '{replicaId}' on this node" }, SerializerOptions.Default, statusCode: 404));
        return app;
    }
}
