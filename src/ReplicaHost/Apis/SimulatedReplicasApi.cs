using Microsoft.Extensions.Options;
using ServeAspire.Model;
using ServeAspire.ReplicaHost.Nodes;
using ServeAspire.ReplicaHost.Replicas;

namespace ServeAspire.ReplicaHost.Apis;

/// <summary>
/// The traffic side of simulated replicas (<c>Node:Simulated</c>): <c>ANY /sim/{replicaId}/…</c> answers
/// 200 with the replica id while that stand-in is RUNNING, and <c>/-/check_health</c> answers "success";
/// anything else (unknown, stopping, dead) is 404, so a proxy still routing to a stopped stand-in sees a
/// failure, as with a dead replica. No cluster token: proxies forward user traffic without one.
/// </summary>
internal static class SimulatedReplicasApi
{
    public const string Prefix = "/sim";

    public static IEndpointRouteBuilder MapSimulatedReplicasApi(this IEndpointRouteBuilder app)
    {
        if (!app.ServiceProvider.GetRequiredService<IOptions<NodeOptions>>().Value.Simulated) return app;
        app.Map(Prefix + "/{replicaId}/{**rest}", (string replicaId, string? rest, ReplicaSupervisor supervisor) => Answer(supervisor, replicaId, rest));
        return app;
    }

    /// <param name="rest">The path after the replica id (the proxy appends the request's path to the replica URL).</param>
    internal static IResult Answer(ReplicaSupervisor supervisor, string replicaId, string? rest) =>
        supervisor.StateOf(replicaId) != ReplicaProcessState.RUNNING
            ? Results.Text($"no running replica '{replicaId}' on this node", statusCode: StatusCodes.Status404NotFound)
            : rest is "-/check_health" or "-/healthz"
                ? Results.Text("success")
                : Results.Text(replicaId);
}
