using Microsoft.Extensions.Options;
using ServeAspire.Model;
using ServeAspire.ReplicaHost.Apis;
using ServeAspire.ReplicaHost.Nodes;

namespace ServeAspire.ReplicaHost.Replicas;

/// <summary>
/// <c>Node:Simulated</c>: replicas are <see cref="SimulatedReplica"/> stand-ins served by this node's own
/// Kestrel at <c>{node address}/sim/{replicaId}</c>, so one machine can host thousands of them for
/// control-plane scale tests. Nothing else about the node changes.
/// </summary>
internal sealed partial class SimulatedReplicaLauncher : IReplicaLauncher
{
    private readonly IOptions<NodeOptions> _options;
    private readonly NodeIdentity _identity;
    private readonly TimeProvider _time;
    private readonly ILogger<SimulatedReplica> _logger;

    public SimulatedReplicaLauncher(IOptions<NodeOptions> options, NodeIdentity identity, TimeProvider time, ILogger<SimulatedReplica> logger)
    {
        _options = options;
        _identity = identity;
        _time = time;
        _logger = logger;
        // Loud on purpose: a node left in this mode would accept deployments and run none of their code.
        Log.SimulatedMode(logger, options.Value.Id);
    }

    public IReplica Start(StartReplicaRequest request)
    {
        // The controller only learns of the node from its registration, which carries this address; so no start comes earlier.
        var address = _identity.Address ?? throw new InvalidOperationException("node has no listening address yet");
        var url = $"{address.TrimEnd('/')}{SimulatedReplicasApi.Prefix}/{Uri.EscapeDataString(request.ReplicaId)}";
        return new SimulatedReplica(request, Environment.ProcessId, url, _options.Value.SimulatedStopDelay, _time, _logger);
    }

    private static partial class Log
    {
        [LoggerMessage(130, LogLevel.Warning, "Node {NodeId} runs SIMULATED replicas (Node:Simulated=true): in-process stand-ins, no deployment code runs")]
        public static partial void SimulatedMode(ILogger logger, string nodeId);
    }
}
