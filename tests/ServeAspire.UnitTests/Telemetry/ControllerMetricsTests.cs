using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using ServeAspire.Config;
using ServeAspire.Controller.Deployments;
using ServeAspire.Controller.Health;
using ServeAspire.Controller.Leadership;
using ServeAspire.Controller.Telemetry;
using ServeAspire.Model;
using ServeAspire.Security;

namespace ServeAspire.UnitTests.Telemetry;

public sealed class ControllerMetricsTests
{
    private static readonly DeploymentSpec Spec = new("Dep", "A:B", 1, 5, -1, HealthCheckPeriodS: 1, HealthCheckTimeoutS: 2, 20, 2, null, 20, false);

    private sealed class FailingProbe : IReplicaHealthProbe
    {
        public Task<string?> CheckAsync(string replicaUrl, TimeSpan timeout, CancellationToken cancellationToken) => Task.FromResult<string?>("500: boom");
    }

    [Fact]
    public void EachFailedHealthCheck_IsCounted_WithRaysReplicaTags()
    {
        using var capture = new MetricsCapture();
        var metrics = new ControllerMetrics(capture.Meters);
        var tracker = new ReplicaHealthTracker(new FailingProbe(), () => 0.5, metrics);
        var target = new ReplicaHealthTracker.Target("r1", "http://127.0.0.1:1", Spec, "app");
        var now = DateTimeOffset.UnixEpoch;
        tracker.Update([target], now, default); // first sight
        now = now.AddSeconds(1);
        tracker.Update([target], now, default); // starts a check (answers at once)
        tracker.Update([target], now, default); // reads it: one failure
        var failures = Assert.Single(capture.Collect(), p => p.Name == "serve_controller_health_check_failures");
        Assert.Equal(new SortedDictionary<string, string> { ["application"] = "app", ["deployment"] = "Dep", ["replica"] = "r1" }, failures.Tags);
        Assert.Equal(1, failures.Value);
    }

    [Fact]
    public void ReplicaStarts_LoopDuration_Leadership_AndFencing()
    {
        using var capture = new MetricsCapture();
        var clock = new FakeTimeProvider();
        var leader = new LeaderState(clock);
        var metrics = new ControllerMetrics(capture.Meters, leader: leader);
        metrics.ReplicaStarted(new StartReplicaRequest("r9", "app", "Dep", "A:B", 20, 2));
        metrics.ControlLoopDone(TimeSpan.FromMilliseconds(250));
        leader.Lead(7, clock.GetTimestamp(), TimeSpan.FromSeconds(10));
        leader.CountFencedWrite();
        leader.CountFencedNodeCall();
        leader.CountFencedNodeCall();

        var points = capture.Collect();
        var starts = Assert.Single(points, p => p.Name == "serve_deployment_replica_starts");
        Assert.Equal(new SortedDictionary<string, string> { ["application"] = "app", ["deployment"] = "Dep", ["replica"] = "r9" }, starts.Tags);
        Assert.Equal(0.25, Assert.Single(points, p => p.Name == "serve_controller_control_loop_duration_s").Value);
        Assert.Equal(1, Assert.Single(points, p => p.Name == "serve_controller_num_control_loops").Value);
        Assert.Equal(1, Assert.Single(points, p => p.Name == "serve_controller_is_leader").Value);
        var changes = points.Where(p => p.Name == "serve_controller_leader_changes").ToDictionary(p => p.Tags["change"], p => p.Value);
        Assert.Equal((1, 0), (changes["acquired"], changes["lost"]));
        var fenced = points.Where(p => p.Name == "serve_controller_fenced_writes").ToDictionary(p => p.Tags["refused_by"], p => p.Value);
        Assert.Equal((1, 2), (fenced["store"], fenced["node"]));

        leader.StepDown("test");
        leader.StepDown("again: no second change");
        points = capture.Collect();
        Assert.Equal(0, points.Single(p => p.Name == "serve_controller_is_leader").Value);
        Assert.Equal(1, points.Single(p => p.Name == "serve_controller_leader_changes" && p.Tags["change"] == "lost").Value);
    }

    [Fact]
    public void ReplicaHealthy_IsOneWhileRunning_AndOnlyForReplicasTheLeaderKnows()
    {
        using var capture = new MetricsCapture();
        var deployments = new DeploymentStateManager(TimeSpan.Zero, 10, () => "x", NullLogger<DeploymentStateManager>.Instance);
        _ = new ControllerMetrics(capture.Meters, deployments);
        Assert.DoesNotContain(capture.Collect(), p => p.Name == "serve_deployment_replica_healthy");
        var config = ConfigValidator.Validate("""
            applications:
              - { name: app, route_prefix: "/", import_path: "Samples:SleepyPid", deployments: [ { name: SleepyPid, num_replicas: 2 } ] }
            """, new ServeAspire.Runtime.DeploymentCatalog());
        Assert.True(config.IsValid, config.Summary);
        deployments.ApplyConfig(config.Config!, null, DateTimeOffset.UnixEpoch);
        deployments.RestoreReplicas([
            new ReplicaRecord { ReplicaId = "up", Application = "app", Deployment = "SleepyPid", NodeId = "n", State = ReplicaState.RUNNING },
            new ReplicaRecord { ReplicaId = "new", Application = "app", Deployment = "SleepyPid", NodeId = "n", State = ReplicaState.STARTING },
        ]);
        var healthy = capture.Collect().Where(p => p.Name == "serve_deployment_replica_healthy").ToDictionary(p => p.Tags["replica"]);
        Assert.Equal((1, 0), (healthy["up"].Value, healthy["new"].Value));
        Assert.Equal(new SortedDictionary<string, string> { ["application"] = "app", ["deployment"] = "SleepyPid", ["replica"] = "up" }, healthy["up"].Tags);
    }

    [Fact]
    public void ANode_CountsTheCallsItRefusesForAStaleToken()
    {
        var tokens = new LeaderTokens();
        Assert.Null(tokens.Admit("5"));
        Assert.NotNull(tokens.Admit("4"));
        Assert.Null(tokens.Admit("5"));
        Assert.NotNull(tokens.Admit("garbage")); // malformed: refused, but not a stale leader
        Assert.Equal(1, tokens.Refused);
    }
}
