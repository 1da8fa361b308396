using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using ServeAspire.Config;
using ServeAspire.Controller.Autoscaling;
using ServeAspire.Model;

namespace ServeAspire.UnitTests.Autoscaling;

public sealed class AutoscalingPolicyTests
{
    private static readonly AutoscalingSpec Spec = new(MinReplicas: 1, MaxReplicas: 10, InitialReplicas: 1, TargetOngoingRequests: 2);

    [Theory]
    [InlineData(1, 0, 1)]     // idle: at the floor
    [InlineData(1, 2, 1)]     // exactly on target
    [InlineData(1, 7, 4)]     // ceil(7 / 2)
    [InlineData(4, 8, 4)]     // on target at 4
    [InlineData(4, 2, 1)]     // ceil(4 × 2/8)
    [InlineData(2, 100, 10)]  // clamped to max_replicas
    public void Desired_IsTheCountThatBringsEachReplicaToTheTarget_Clamped(int current, double ongoing, int desired) =>
        Assert.Equal(desired, AutoscalingPolicy.DesiredReplicas(Spec, current, ongoing));

    [Fact]
    public void Factors_MoveOnlyPartOfTheWay()
    {
        // error ratio 4 (16 ongoing, 2 replicas × 2): factor 0.5 → 1 + 3 × 0.5 = 2.5 → ceil(5) = 5 instead of 8.
        Assert.Equal(5, AutoscalingPolicy.DesiredReplicas(Spec with { UpscalingFactor = 0.5 }, 2, 16));
        // error ratio 0.25 (2 ongoing, 4 replicas × 2): factor 0.5 → 1 − 0.75 × 0.5 = 0.625 → ceil(2.5) = 3 instead of 1.
        Assert.Equal(3, AutoscalingPolicy.DesiredReplicas(Spec with { DownscalingFactor = 0.5 }, 4, 2));
    }

    private static readonly AutoscalingSpec ToZero = new(MinReplicas: 0, MaxReplicas: 10, InitialReplicas: 0, TargetOngoingRequests: 2);

    [Theory]
    [InlineData(0, 0, 0)]     // idle at zero: stays there
    [InlineData(0, 0.2, 1)]   // any demand: at least 1
    [InlineData(0, 7, 4)]     // ceil(7 / 2), not just 1
    [InlineData(0, 100, 10)]  // clamped to max_replicas
    [InlineData(1, 0, 0)]     // no load at 1: down to min_replicas 0
    [InlineData(3, 0, 0)]
    public void WithMinReplicasZero_ScalesFromAndToZero(int current, double ongoing, int desired) =>
        Assert.Equal(desired, AutoscalingPolicy.DesiredReplicas(ToZero, current, ongoing));

    [Fact]
    public void ADampedDownscale_StillReachesZero_WhenThereIsNoLoadAtAll()
    {
        // ceil(1 × (1 − 0.5)) = 1 would hold the last replica forever.
        Assert.Equal(0, AutoscalingPolicy.DesiredReplicas(ToZero with { DownscalingFactor = 0.5 }, 1, 0));
        Assert.Equal(1, AutoscalingPolicy.DesiredReplicas(ToZero with { DownscalingFactor = 0.01 }, 2, 0));
        // With some load the damping still holds it: 0.1 ongoing at 1 replica is not "no load".
        Assert.Equal(1, AutoscalingPolicy.DesiredReplicas(ToZero with { DownscalingFactor = 0.5 }, 1, 0.1));
    }
}

public sealed class AutoscalingStateManagerTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.UnixEpoch.AddDays(20000);
    private const string Key = "app\nDep";
    private static readonly AutoscalingSpec Spec = new(1, 10, 1, TargetOngoingRequests: 1, UpscaleDelayS: 3, DownscaleDelayS: 5, LookBackPeriodS: 2);
    private readonly AutoscalingStateManager _manager = new(NullLogger<AutoscalingStateManager>.Instance);

    private static OngoingRequestsReport Report(string proxy, DateTimeOffset at, int ongoing) =>
        new(proxy, at.ToUnixTimeMilliseconds(), new Dictionary<string, int> { [Key] = ongoing });

    private IReadOnlyList<AutoscalingStateManager.Decision> At(double seconds, int current, params (string Proxy, int Ongoing)[] reports)
    {
        var now = T0.AddSeconds(seconds);
        return _manager.Update([(Key, Spec, current)], reports.Select(r => Report(r.Proxy, now, r.Ongoing)).ToList(), now);
    }

    [Fact]
    public void AScaleUp_WaitsForTheUpscaleDelay_AndSumsEveryProxy()
    {
        Assert.Empty(At(0, 1, ("p0", 2), ("p1", 2)));
        Assert.Empty(At(1, 1, ("p0", 2), ("p1", 2)));
        Assert.Empty(At(2, 1, ("p0", 2), ("p1", 2)));
        var d = Assert.Single(At(3, 1, ("p0", 2), ("p1", 2)));
        Assert.Equal((1, 4), (d.From, d.To));
        Assert.Contains("4 ongoing requests on average", d.Reason);
    }

    [Fact]
    public void AnInterruptedWish_StartsItsDelayOver()
    {
        At(0, 1, ("p0", 4));
        At(2, 1, ("p0", 4));
        At(2.5, 1, ("p0", 0), ("p1", 0)); // the look-back still averages 8/3 > 1: wish holds
        Assert.Empty(At(4.6, 1, ("p0", 0))); // samples at 2.5..4.6 (2 s window): average 0, wish interrupted
        Assert.Empty(At(5, 1, ("p0", 5)));
        Assert.Empty(At(7.9, 1, ("p0", 5)));
        Assert.Single(At(8, 1, ("p0", 5)));
    }

    [Fact]
    public void AScaleDown_WaitsForTheDownscaleDelay()
    {
        for (var t = 0; t < 5; t++) Assert.Empty(At(t, 4, ("p0", 0)));
        var d = Assert.Single(At(5, 4, ("p0", 0)));
        Assert.Equal((4, 1), (d.From, d.To));
    }

    [Fact]
    public void NoReport_OrOnlyStaleOnes_IsNoDataAndNoDecision_NeverZeroLoad()
    {
        // A new leader, or proxies cut off: silence must not read as an idle deployment.
        for (var t = 0; t <= 10; t++) Assert.Empty(At(t, 4));
        var now = T0.AddSeconds(20);
        var stale = Report("p0", now - AutoscalingStateManager.ReportFreshness - TimeSpan.FromSeconds(1), 0);
        Assert.Empty(_manager.Update([(Key, Spec, 4)], [stale], now));
        Assert.Empty(_manager.Update([(Key, Spec, 4)], [stale], now.AddSeconds(10)));
    }

    [Fact]
    public void TheGauges_ShowTheAverageTheWishAndTheTarget()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var manager = new AutoscalingStateManager(NullLogger<AutoscalingStateManager>.Instance,
            services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        manager.Update([(Key, Spec, 1)], [Report("p0", T0, 3)], T0);
        var seen = new Dictionary<string, double>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (i, l) => { if (i.Name.StartsWith("serve_autoscaling_", StringComparison.Ordinal)) l.EnableMeasurementEvents(i); };
        listener.SetMeasurementEventCallback<double>((i, value, tags, _) =>
        {
            Assert.Contains(tags.ToArray(), t => t.Key == "deployment" && (string?)t.Value == "Dep");
            seen[i.Name] = value;
        });
        listener.Start();
        listener.RecordObservableInstruments();
        Assert.Equal(3, seen["serve_autoscaling_total_requests"]);
        Assert.Equal(3, seen["serve_autoscaling_desired_replicas"]);
        Assert.Equal(1, seen["serve_autoscaling_target_replicas"]);
    }

    private static readonly AutoscalingSpec ZeroSpec = Spec with { MinReplicas = 0, InitialReplicas = 0, MaxReplicas = 4, LookBackPeriodS = 30 };

    private IReadOnlyList<AutoscalingStateManager.Decision> AtZeroSpec(double seconds, int current, params (string Proxy, int Ongoing)[] reports)
    {
        var now = T0.AddSeconds(seconds);
        return _manager.Update([(Key, ZeroSpec, current)], reports.Select(r => Report(r.Proxy, now, r.Ongoing)).ToList(), now);
    }

    [Fact]
    public void FromZero_TheFirstReportedRequest_ScalesUpAtOnce_WithoutTheUpscaleDelay()
    {
        // Idle at zero for a while: no decision (and no scale "down" below zero).
        for (var t = 0; t < 10; t++) Assert.Empty(AtZeroSpec(t, 0, ("p0", 0), ("p1", 0)));
        // upscale_delay_s is 3 s; requests are waiting at the proxies: the very first report decides.
        var d = Assert.Single(AtZeroSpec(10, 0, ("p0", 1), ("p1", 2)));
        Assert.Equal((0, 3), (d.From, d.To)); // ceil(3 / 1), from the latest report, not the 30 s average of mostly zeros
        Assert.Contains("scale up from 0", d.Reason);
        Assert.Contains("without upscale_delay_s", d.Reason);
    }

    [Fact]
    public void FromZero_ManyWaitingRequests_AreClampedToMaxReplicas()
    {
        var d = Assert.Single(AtZeroSpec(0, 0, ("p0", 50)));
        Assert.Equal(4, d.To);
    }

    [Fact]
    public void ToZero_FollowsTheDownscaleDelay()
    {
        var spec = ZeroSpec with { LookBackPeriodS = 2 };
        IReadOnlyList<AutoscalingStateManager.Decision> At(double s, int ongoing) =>
            _manager.Update([(Key, spec, 1)], [Report("p0", T0.AddSeconds(s), ongoing)], T0.AddSeconds(s));
        Assert.Empty(At(0, 0));
        for (var t = 1; t < 5; t++) Assert.Empty(At(t, 0)); // downscale_delay_s is 5 s
        var d = Assert.Single(At(5, 0));
        Assert.Equal((1, 0), (d.From, d.To));
        Assert.Contains("scale down from 1", d.Reason);
    }

    [Fact]
    public void AtZero_WithoutReports_NothingIsDecided()
    {
        for (var t = 0; t <= 5; t++) Assert.Empty(AtZeroSpec(t, 0));
    }

    [Fact]
    public void Reset_ForgetsHistoryAndDelayClocks()
    {
        At(0, 1, ("p0", 5));
        At(2, 1, ("p0", 5));
        _manager.Reset();
        Assert.Empty(At(3, 1, ("p0", 5))); // without the reset this would be the decision
        Assert.Single(At(6, 1, ("p0", 5)));
    }
}
