using System.ComponentModel.DataAnnotations;
using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace ServeAspire.UnitTests.Telemetry;

public sealed class TraceSamplingTests
{
    private static SamplingParameters Root() =>
        new(default, ActivityTraceId.CreateRandom(), "GET /", ActivityKind.Server);

    [Fact]
    public void Reservoir_TakesTheFirstNEachSecond_ThenTheRatio()
    {
        var time = new FakeTimeProvider();
        var sampler = new ReservoirRatioSampler(new TraceSamplingOptions { SamplesPerSecond = 3, SampleRatio = 0 }, time);
        var decisions = Enumerable.Range(0, 10).Select(_ => sampler.ShouldSample(Root()).Decision).ToList();
        Assert.Equal(3, decisions.Count(d => d == SamplingDecision.RecordAndSample));
        Assert.All(decisions.Skip(3), d => Assert.Equal(SamplingDecision.RecordOnly, d));

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(SamplingDecision.RecordAndSample, sampler.ShouldSample(Root()).Decision);
    }

    [Fact]
    public void Ratio_KeepsAboutThatShare_ByTraceId()
    {
        var sampler = new ReservoirRatioSampler(new TraceSamplingOptions { SamplesPerSecond = 0, SampleRatio = 0.25 }, new FakeTimeProvider());
        var sampled = Enumerable.Range(0, 20_000).Count(_ => sampler.ShouldSample(Root()).Decision == SamplingDecision.RecordAndSample);
        Assert.InRange(sampled, 4_500, 5_500);
    }

    [Fact]
    public void WithNothingToKeep_UnsampledSpansAreDroppedOutright()
    {
        var sampler = new ReservoirRatioSampler(new TraceSamplingOptions { SamplesPerSecond = 0, SampleRatio = 0, KeepErrors = false, KeepSlowerThanMs = 0 });
        Assert.Equal(SamplingDecision.Drop, sampler.ShouldSample(Root()).Decision);
    }

    [Theory]
    [InlineData("SampleRatio", "1.5")]
    [InlineData("SampleRatio", "-0.1")]
    [InlineData("SamplesPerSecond", "-1")]
    [InlineData("KeepSlowerThanMs", "-5")]
    public void OutOfRangeSettings_AreRefusedAtStart_NamingTheSetting(string key, string value)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { [$"Tracing:{key}"] = value });
        var error = Assert.Throws<ValidationException>(() => builder.ConfigureOpenTelemetry());
        Assert.Contains(key, error.Message);
    }

    /// <summary>The real pipeline: sampler, keep-processor, then a batch exporter (as UseOtlpExporter adds it).</summary>
    [Fact]
    public void UnsampledSpans_AreExportedOnlyWhenTheyFailOrAreSlow_AndSampledParentsAreFollowed()
    {
        var options = new TraceSamplingOptions { SamplesPerSecond = 0, SampleRatio = 0, KeepSlowerThanMs = 500 };
        var exported = new List<Activity>();
        using var source = new ActivitySource("TraceSamplingTests");
        using (var provider = Sdk.CreateTracerProviderBuilder()
            .AddSource(source.Name)
            .SetSampler(ReservoirRatioSampler.ParentBased(options))
            .AddProcessor(new KeepErrorsAndSlowProcessor(options))
            .AddProcessor(new BatchActivityExportProcessor(new OpenTelemetry.Exporter.InMemoryExporter<Activity>(exported)))
            .Build())
        {
            using (source.StartActivity("fast-ok", ActivityKind.Server)) { }
            using (var failed = source.StartActivity("fast-error", ActivityKind.Server)) failed!.SetStatus(ActivityStatusCode.Error);
            using (source.StartActivity("slow-ok", ActivityKind.Server, parentContext: default, startTime: DateTimeOffset.UtcNow.AddSeconds(-2))) { }

            var sampledCaller = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded, isRemote: true);
            using (source.StartActivity("under-sampled-caller", ActivityKind.Server, sampledCaller)) { }
            var unsampledCaller = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.None, isRemote: true);
            using (source.StartActivity("under-unsampled-caller", ActivityKind.Server, unsampledCaller)) { }
            using (var failed = source.StartActivity("error-under-unsampled-caller", ActivityKind.Server, unsampledCaller)) failed!.SetStatus(ActivityStatusCode.Error);

            Assert.True(provider.ForceFlush(5_000));
        }
        Assert.Equal(["fast-error", "slow-ok", "under-sampled-caller", "error-under-unsampled-caller"], exported.Select(a => a.DisplayName).ToArray());
    }
}
