using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;

namespace ServeAspire.UnitTests.Telemetry;

/// <summary>
/// The ServeAspire meter, collected into memory by the real OpenTelemetry SDK: a test records through the
/// service's own metrics class, then reads every point with its tags.
/// </summary>
internal sealed class MetricsCapture : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly List<MetricSnapshot> _exported = [];
    private readonly MeterProvider _provider;

    public MetricsCapture()
    {
        _provider = Sdk.CreateMeterProviderBuilder().AddMeter(ServeTelemetry.MeterName).AddInMemoryExporter(_exported).Build();
    }

    public IMeterFactory Meters => _services.GetRequiredService<IMeterFactory>();

    public sealed record Point(string Name, SortedDictionary<string, string> Tags, double Value, long Count, IReadOnlyList<double> Bounds);

    /// <summary>Collects now (observable instruments are read here) and returns every point of every metric.</summary>
    public IReadOnlyList<Point> Collect()
    {
        _exported.Clear();
        Assert.True(_provider.ForceFlush(5_000));
        var points = new List<Point>();
        foreach (var metric in _exported)
            foreach (var p in metric.MetricPoints)
            {
                var tags = new SortedDictionary<string, string>(StringComparer.Ordinal);
                foreach (var t in p.Tags) tags[t.Key] = Convert.ToString(t.Value, System.Globalization.CultureInfo.InvariantCulture) ?? "";
                var (value, count, bounds) = metric.MetricType switch
                {
                    MetricType.LongSum or MetricType.LongSumNonMonotonic => (p.GetSumLong(), 0L, (IReadOnlyList<double>)[]),
                    MetricType.DoubleSum or MetricType.DoubleSumNonMonotonic => (p.GetSumDouble(), 0L, []),
                    MetricType.LongGauge => (p.GetGaugeLastValueLong(), 0L, []),
                    MetricType.DoubleGauge => (p.GetGaugeLastValueDouble(), 0L, []),
                    MetricType.Histogram => (p.GetHistogramSum(), p.GetHistogramCount(), Bounds(p)),
                    _ => (double.NaN, 0L, []),
                };
                points.Add(new Point(metric.Name, tags, value, count, bounds));
            }
        return points;
    }


    private static IReadOnlyList<double> Bounds(in MetricPoint p)
    {
        var bounds = new List<double>();
        foreach (var bucket in p.GetHistogramBuckets())
            if (!double.IsPositiveInfinity(bucket.ExplicitBound)) bounds.Add(bucket.ExplicitBound);
        return bounds;
    }

    public void Dispose()
    {
        _provider.Dispose();
        _services.Dispose();
    }
}
