using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using ServeAspire.Model;
using ServeAspire.ReplicaHost.Nodes;
using ServeAspire.ReplicaHost.Replicas;
using ServeAspire.Security;

namespace ServeAspire.ReplicaHost.Telemetry;

/// <summary>
/// The node agent's metrics (Ray has no raylet counterpart under these names): its replica processes by
/// state, and the calls it refused for carrying a deposed leader's fencing token. Read at collection time.
/// </summary>
internal sealed class NodeMetrics
{
    public NodeMetrics(IMeterFactory meters, ReplicaSupervisor supervisor, LeaderTokens fencing, IOptions<NodeOptions> options)
    {
        var meter = meters.Create(ServeTelemetry.MeterName);
        var node = new KeyValuePair<string, object?>("node_id", options.Value.Id);
        meter.CreateObservableGauge("serve_node_replicas", () =>
        {
            var counts = supervisor.CountByState();
            return Enum.GetValues<ReplicaProcessState>().Select(s => new Measurement<int>(counts.GetValueOrDefault(s), node,
                new KeyValuePair<string, object?>("state", s.ToString()))).ToList();
        }, description: "Replica processes on this node by state (dead ones until they are pruned).");
        meter.CreateObservableCounter("serve_node_fenced_requests", () => new Measurement<long>(fencing.Refused, node),
            description: "Starts, stops and reconfigures this node refused because they carried an older leader's fencing token.");
    }
}

/// <summary>The node agent's spans: starting a replica process, under the controller's reconcile trace.</summary>
internal static class NodeTracing
{
    public static readonly ActivitySource Source = new(ServeTelemetry.SourcePrefix + "Node");

    public static Activity? StartReplicaStart(StartReplicaRequest request)
    {
        var span = Source.StartActivity("serve.node.start_replica");
        if (span is null) return null;
        span.SetTag("application", request.Application);
        span.SetTag("deployment", request.Deployment);
        span.SetTag("replica", request.ReplicaId);
        return span;
    }
}
