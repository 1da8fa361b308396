using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;
using OpenTelemetry;
using OpenTelemetry.Trace;
using ServeAspire.Config;
using ServeAspire.Controller.Deployments;
using ServeAspire.Controller.Health;
using ServeAspire.Controller.Telemetry;
using ServeAspire.Model;
using ServeAspire.Proxy.Forwarding;
using ServeAspire.Proxy.LoadBalancing;

namespace ServeAspire.UnitTests.Telemetry;

/// <summary>
/// The services' spans through the real pipeline (sampler, keep-errors processor, batch exporter, as
/// ServiceDefaults builds it): requests read as one trace; routine background work does not flood it.
/// </summary>
[Collection(nameof(SpanTests))] // ActivitySources are process-wide: no other test may listen meanwhile
public sealed class SpanTests
{
    private static readonly DeploymentSpec Spec = new("Dep", "A:B", 1, 5, -1, HealthCheckPeriodS: 1, HealthCheckTimeoutS: 2, 20, 2, null, 20, false);

    private static TracerProvider Pipeline(TraceSamplingOptions options, List<Activity> exported, string extraSource) =>
        Sdk.CreateTracerProviderBuilder()
            .AddSource(ServeTelemetry.SourcePrefix + "*", extraSource)
            .SetSampler(ReservoirRatioSampler.ParentBased(options))
            .AddProcessor(new KeepErrorsAndSlowProcessor(options))
            .AddProcessor(new BatchActivityExportProcessor(new OpenTelemetry.Exporter.InMemoryExporter<Activity>(exported)))
            .Build()!;

    private static SamplingParameters Root(ActivityKind kind, params KeyValuePair<string, object?>[] tags) =>
        new(default, ActivityTraceId.CreateRandom(), "span", kind, tags);

    [Fact]
    public void BackgroundRoots_SkipTheAllowance_ButMarkedTraceRootsAndServerSpansUseIt()
    {
        var sampler = new ReservoirRatioSampler(new TraceSamplingOptions { SamplesPerSecond = 100, SampleRatio = 0 }, new FakeTimeProvider());
        Assert.Equal(SamplingDecision.RecordOnly, sampler.ShouldSample(Root(ActivityKind.Client)).Decision);   // a node poll, a Redis command
        Assert.Equal(SamplingDecision.RecordOnly, sampler.ShouldSample(Root(ActivityKind.Internal)).Decision); // a health check
        Assert.Equal(SamplingDecision.RecordAndSample, sampler.ShouldSample(Root(ActivityKind.Server)).Decision);
        Assert.Equal(SamplingDecision.RecordAndSample, sampler.ShouldSample(Root(ActivityKind.Internal, new KeyValuePair<string, object?>(ServeTelemetry.TraceRootTag, true))).Decision);

        var all = new ReservoirRatioSampler(new TraceSamplingOptions { SamplesPerSecond = 0, SampleRatio = 0, BackgroundSampleRatio = 1 }, new FakeTimeProvider());
        Assert.Equal(SamplingDecision.RecordAndSample, all.ShouldSample(Root(ActivityKind.Client)).Decision);
    }

    [Fact]
    public async Task ASampledRequest_HasAnAttemptSpan_HoldingTheReplicaChoice_UnderTheServerSpan()
    {
        var exported = new List<Activity>();
        using var incoming = new ActivitySource("SpanTests.Incoming");
        var route = new RouteEntry("/api", "app", "Dep", 5, -1, false, [new ReplicaEndpoint("r1", "http://127.0.0.1:1", "node-0")]);
        var slot = new ReplicaSlot(route.Replicas[0]);
        using (var provider = Pipeline(new TraceSamplingOptions { SamplesPerSecond = 1000 }, exported, incoming.Name))
        {
            using (var server = incoming.StartActivity("GET /api", ActivityKind.Server))
            {
                Assert.True(server!.Recorded);
                using var attempt = ProxyTracing.StartAttempt(route, 1);
                using (var choose = ProxyTracing.StartChooseReplica(attempt))
                    ProxyTracing.Chosen(choose, DeploymentRouter.AcquireStatus.Acquired, slot);
                ProxyTracing.Failed(attempt, Yarp.ReverseProxy.Forwarder.ForwarderError.Request, retryable: true);
            }
            // An unsampled request (reservoir used up, ratio 0) gets no proxy spans at all.
            Assert.True(provider.ForceFlush(5_000));
        }
        var byName = exported.ToDictionary(a => a.DisplayName);
        var serverSpan = byName["GET /api"];
        var attemptSpan = byName["serve.attempt"];
        var chooseSpan = byName["serve.choose_replica"];
        Assert.Equal(serverSpan.SpanId, attemptSpan.ParentSpanId);
        Assert.Equal(attemptSpan.SpanId, chooseSpan.ParentSpanId);
        Assert.Equal(serverSpan.TraceId, chooseSpan.TraceId);
        Assert.Equal("r1", chooseSpan.GetTagItem("replica"));
        Assert.Equal(("Dep", 1), (attemptSpan.GetTagItem("deployment"), attemptSpan.GetTagItem("serve.attempt")));
        Assert.Equal(ActivityStatusCode.Error, attemptSpan.Status);
        await Task.CompletedTask;
    }

    [Fact]
    public void AnUnsampledRequest_StartsNoProxySpan()
    {
        var exported = new List<Activity>();
        using var incoming = new ActivitySource("SpanTests.Unsampled");
        var route = new RouteEntry("/", "app", "Dep", 5, -1, false, []);
        using var provider = Pipeline(new TraceSamplingOptions { SamplesPerSecond = 0, SampleRatio = 0 }, exported, incoming.Name);
        using var server = incoming.StartActivity("GET /", ActivityKind.Server);
        Assert.NotNull(server);
        Assert.False(server.Recorded);
        Assert.Null(ProxyTracing.StartAttempt(route, 1));
    }

    [Fact]
    public void OnlyATickThatActs_GetsAReconcileTrace_ARootEvenUnderAnotherSpan()
    {
        var exported = new List<Activity>();
        using var other = new ActivitySource("SpanTests.Other");
        var node = new NodeRegistration("node-0", "i1", "http://127.0.0.1:1", 1, DateTimeOffset.UnixEpoch);
        using (var provider = Pipeline(new TraceSamplingOptions { SamplesPerSecond = 1000 }, exported, other.Name))
        {
            Assert.Null(ControllerTracing.StartReconcile(7, [], DateTimeOffset.UtcNow)); // nothing to do: no span
            using var unrelated = other.StartActivity("unrelated", ActivityKind.Server);
            using (var tick = ControllerTracing.StartReconcile(7, [new StopReplicaAction(node, "r1")], DateTimeOffset.UtcNow.AddMilliseconds(-5)))
            {
                Assert.NotNull(tick);
                using (ControllerTracing.StartStep(tick, "act")) { }
            }
            Assert.True(provider.ForceFlush(5_000));
        }
        var reconcile = Assert.Single(exported, a => a.DisplayName == "serve.controller.reconcile");
        Assert.Equal(default, reconcile.ParentSpanId); // its own trace, not under whatever was current
        Assert.Equal(1, reconcile.GetTagItem("serve.stops"));
        var act = Assert.Single(exported, a => a.DisplayName == "serve.controller.act");
        Assert.Equal(reconcile.SpanId, act.ParentSpanId);
    }

    private sealed class ScriptedProbe(params string?[] answers) : IReplicaHealthProbe
    {
        private int _next;
        public Task<string?> CheckAsync(string replicaUrl, TimeSpan timeout, CancellationToken cancellationToken) => Task.FromResult(answers[_next++]);
    }

    [Fact]
    public void HealthChecks_AreExportedOnlyWhenTheyFail_HoweverMuchAllowanceIsLeft()
    {
        var exported = new List<Activity>();
        using (var provider = Pipeline(new TraceSamplingOptions { SamplesPerSecond = 1000, SampleRatio = 1 }, exported, "none"))
        {
            var tracker = new ReplicaHealthTracker(new ScriptedProbe(null, null, "500: boom", null), () => 0.5);
            var target = new ReplicaHealthTracker.Target("r1", "http://127.0.0.1:1", Spec, "app");
            var now = DateTimeOffset.UnixEpoch;
            tracker.Update([target], now, default);
            for (var i = 0; i < 4; i++)
            {
                now = now.AddSeconds(1);
                tracker.Update([target], now, default); // starts one (answered at once)
                tracker.Update([target], now, default); // reads it
            }
            Assert.True(provider.ForceFlush(5_000));
        }
        var check = Assert.Single(exported);
        Assert.Equal("serve.controller.health_check", check.DisplayName);
        Assert.Equal(ActivityStatusCode.Error, check.Status);
        Assert.Equal(("r1", "Dep", "app"), (check.GetTagItem("replica"), check.GetTagItem("deployment"), check.GetTagItem("application")));
    }
}

[CollectionDefinition(nameof(SpanTests), DisableParallelization = true)]
public sealed class SpanTestsCollection;
