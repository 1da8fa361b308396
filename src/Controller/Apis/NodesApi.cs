using ServeAspire.Controller.Checkpoints;
using ServeAspire.Model;
using StackExchange.Redis;

namespace ServeAspire.Controller.Apis;

/// <summary><c>GET /api/nodes</c>: the node agents (Ray's <c>ray list nodes</c>): live ones and those whose heartbeat expired.</summary>
internal static class NodesApi
{
    public sealed record NodeInfo(string NodeId, string State, string InstanceId, int Pid, string Address, DateTimeOffset StartedAt);

    public static IEndpointRouteBuilder MapNodesApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/nodes", async (IClusterStore store, CancellationToken ct) =>
        {
            try
            {
                var all = await store.GetNodesAsync(ct);
                var nodes = all.OrderBy(n => n.Registration.NodeId, StringComparer.Ordinal)
                    .Select(n => new NodeInfo(n.Registration.NodeId, n.Alive ? "ALIVE" : "DEAD", n.Registration.InstanceId, n.Registration.Pid, n.Registration.Address, n.Registration.StartedAt))
                    .ToList();
                return Results.Json(new { total = nodes.Count, nodes }, SerializerOptions.Default);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                return Results.Json(new { error = $"the store is unreachable: {ex.Message}" }, SerializerOptions.Default, statusCode: 503);
            }
        });
        return app;
    }
}
