using System.Diagnostics;
using System.Diagnostics.Metrics;
using ServeAspire.Controller.Deployments;
using ServeAspire.Controller.Leadership;
using ServeAspire.Model;

namespace ServeAspire.Controller.Telemetry;

/// <summary>
/// The controller's metrics: Ray's names where Ray has one (deployment_state.py, controller.py), ours for
/// what Ray has no counterpart of (health-check failures, leadership, fencing). Gauges are read from the
/// state at collection time, so a standby (which holds no deployment state) reports no replicas.
/// </summary>
public sealed class ControllerMetrics
{
    private readonly Counter<long> _replicaStarts;
    private readonly Counter<long> _healthCheckFailures;
    private readonly Gauge<double> _loopDuration;
    private readonly Counter<long> _loops;

    public ControllerMetrics(IMeterFactory meters, DeploymentStateManager? deployments = null, LeaderState? leader = null)
    {
        var meter = meters.Create(ServeTelemetry.MeterName);
        _replicaStarts = meter.CreateCounter<long>("serve_deployment_replica_starts",
            description: "The number of times a replica was started: its node accepted the start (the first start and every replacement).");
        _healthCheckFailures = meter.CreateCounter<long>("serve_controller_health_check_failures",
            description: "Replica health checks that failed (a non-200, an error or a timeout); a replica is replaced after 3 in a row.");
        _loopDuration = meter.CreateGauge<double>("serve_controller_control_loop_duration_s", unit: null,
            description: "The duration of the last control loop (one tick of the leader).");
        _loops = meter.CreateCounter<long>("serve_controller_num_control_loops",
            description: "The number of control loops performed by the controller (as leader).");
        if (deployments is not null)
            meter.CreateObservableGauge("serve_deployment_replica_healthy", () => Healthy(deployments),
                description: "Tracks whether this replica is healthy: 1 while RUNNING, 0 while starting, updating, recovering or stopping.");
        if (leader is not null)
        {
            meter.CreateObservableGauge("serve_controller_is_leader", () => leader.IsLeader ? 1 : 0,
                description: "1 while this controller instance holds the leader lease, else 0.");
            meter.CreateObservableCounter("serve_controller_leader_changes", () => new[]
            {
                new Measurement<long>(leader.Tenures, new KeyValuePair<string, object?>("change", "acquired")),
                new Measurement<long>(leader.StepDowns, new KeyValuePair<string, object?>("change", "lost")),
            }, description: "Times this instance became leader (change=acquired) or stepped down (change=lost).");
            meter.CreateObservableCounter("serve_controller_fenced_writes", () => new[]
            {
                new Measurement<long>(leader.FencedWrites, new KeyValuePair<string, object?>("refused_by", "store")),
                new Measurement<long>(leader.FencedNodeCalls, new KeyValuePair<string, object?>("refused_by", "node")),
            }, description: "Writes this instance attempted with a stale fencing token that the store, or a node, refused.");
        }
    }

    public void ReplicaStarted(StartReplicaRequest request) =>
        _replicaStarts.Add(1, new TagList { { "deployment", request.Deployment }, { "replica", request.ReplicaId }, { "application", request.Application } });

    public void HealthCheckFailed(string application, string deployment, string replicaId) =>
        _healthCheckFailures.Add(1, new TagList { { "deployment", deployment }, { "replica", replicaId }, { "application", application } });

    public void ControlLoopDone(TimeSpan duration)
    {
        _loopDuration.Record(duration.TotalSeconds);
        _loops.Add(1);
    }

    private static IEnumerable<Measurement<int>> Healthy(DeploymentStateManager deployments) =>
        deployments.AllReplicas().Where(r => r.IsAlive || r.State == ReplicaState.STOPPING).Select(r => new Measurement<int>(r.State == ReplicaState.RUNNING ? 1 : 0,
            new KeyValuePair<string, object?>("deployment", r.Deployment), new KeyValuePair<string, object?>("replica", r.ReplicaId),
            new KeyValuePair<string, object?>("application", r.Application))).ToList();
}

/// <summary>
/// The controller's spans. Routine ticks are not traced (their node polls and Redis calls are background
/// roots the sampler drops unless they fail or are slow); a tick that acts gets a trace of its own,
/// <c>serve.controller.reconcile</c>, holding the publish, the node calls (whose traceparent the node
/// continues) and the checkpoint. Each health check is a background root: kept when it fails or is slow.
/// </summary>
public static class ControllerTracing
{
    public static readonly ActivitySource Source = new(ServeTelemetry.SourcePrefix + "Controller");

    public static Activity? StartReconcile(long token, IReadOnlyList<ReplicaAction> actions, DateTimeOffset startedAt)
    {
        if (actions.Count == 0) return null;
        var span = Source.StartRoot("serve.controller.reconcile", ActivityKind.Internal,
            [new(ServeTelemetry.TraceRootTag, true)], startedAt);
        if (span is null) return null;
        span.SetTag("serve.fencing_token", token);
        span.SetTag("serve.actions", actions.Count);
        span.SetTag("serve.starts", actions.Count(a => a is StartReplicaAction));
        span.SetTag("serve.stops", actions.Count(a => a is StopReplicaAction));
        span.SetTag("serve.reconfigures", actions.Count(a => a is ReconfigureReplicaAction));
        return span;
    }

    /// <summary>A step of a traced tick (null when the tick is not traced).</summary>
    public static Activity? StartStep(Activity? tick, string step) =>
        tick is null ? null : Source.StartActivity("serve.controller." + step.Replace(' ', '_'));

    public static Activity? StartHealthCheck(string application, string deployment, string replicaId)
    {
        var span = Source.StartRoot("serve.controller.health_check");
        if (span is null) return null;
        span.SetTag("application", application);
        span.SetTag("deployment", deployment);
        span.SetTag("replica", replicaId);
        return span;
    }
}
