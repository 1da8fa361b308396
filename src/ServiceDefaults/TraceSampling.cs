using System.ComponentModel.DataAnnotations;
using System.Diagnostics;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Which requests become traces (section <c>Tracing</c>). Every proxied request traced and exported
/// cost the proxy about as much CPU as the forwarding itself and filled the dashboard within minutes;
/// these defaults keep a trickle of ordinary requests plus every failed or slow one.
/// </summary>
public sealed class TraceSamplingOptions
{
    public const string Section = "Tracing";

    /// <summary>Share of the traces beyond the per-second allowance that are kept (by trace id, so every service agrees).</summary>
    [Range(0.0, 1.0)]
    public double SampleRatio { get; set; } = 0.01;

    /// <summary>Traces started here that are always kept each second, so a quiet system shows every request.</summary>
    [Range(0, 100_000)]
    public int SamplesPerSecond { get; set; } = 5;

    /// <summary>A span that was not sampled is still exported when it failed (status Error).</summary>
    public bool KeepErrors { get; set; } = true;

    /// <summary>…or when it took at least this long (0: keep none for being slow).</summary>
    [Range(0.0, 3_600_000.0)]
    public double KeepSlowerThanMs { get; set; } = 1000;

    /// <summary>
    /// Share of background traces kept: those a service starts on its own rather than for a request (a root
    /// span that is not a server span: the controller's node polls and health probes, heartbeats, Redis
    /// commands). They get no per-second allowance, so routine polling never crowds requests out of it;
    /// failed or slow ones are still kept. A span started with <see cref="ServeTelemetry.TraceRootTag"/>
    /// (a control-loop pass that changed something) counts as a request instead.
    /// </summary>
    [Range(0.0, 1.0)]
    public double BackgroundSampleRatio { get; set; }

    internal bool KeepsUnsampled => KeepErrors || KeepSlowerThanMs > 0;

    /// <summary>
    /// Throws a <see cref="ValidationException"/> naming the first setting outside its [Range]. Checked here rather than by
    /// DataAnnotations' <c>Validator</c>, which finds the attributes by reflection the native-code proxy does not have.
    /// </summary>
    public void Validate()
    {
        Check(nameof(SampleRatio), SampleRatio, 0.0, 1.0);
        Check(nameof(SamplesPerSecond), SamplesPerSecond, 0, 100_000);
        Check(nameof(KeepSlowerThanMs), KeepSlowerThanMs, 0.0, 3_600_000.0);
        Check(nameof(BackgroundSampleRatio), BackgroundSampleRatio, 0.0, 1.0);
    }

    private static void Check(string name, double value, double min, double max)
    {
        if (!(value >= min && value <= max))
            throw new ValidationException(FormattableString.Invariant($"{Section}:{name} must be between {min} and {max}; it is {value}."));
    }
}

/// <summary>
/// The root decision under <see cref="ParentBasedSampler"/>: the first <c>SamplesPerSecond</c> traces
/// each second, then <c>SampleRatio</c> of the rest by trace id. The others are recorded but not
/// sampled when errors or slow spans are to be kept (<see cref="KeepErrorsAndSlowProcessor"/> decides
/// at the end), dropped otherwise. Background roots (not server spans) skip the allowance and are kept
/// only by <see cref="TraceSamplingOptions.BackgroundSampleRatio"/> (else recorded the same way).
/// Downstream services follow the parent's flag.
/// </summary>
public sealed class ReservoirRatioSampler : Sampler
{
    private readonly TraceIdRatioBasedSampler _ratio;
    private readonly TraceIdRatioBasedSampler _backgroundRatio;
    private readonly int _perSecond;
    private readonly SamplingResult _otherwise;
    private readonly TimeProvider _time;
    private long _window = -1;
    private int _taken;

    public ReservoirRatioSampler(TraceSamplingOptions options, TimeProvider? time = null)
    {
        _ratio = new TraceIdRatioBasedSampler(options.SampleRatio);
        _backgroundRatio = new TraceIdRatioBasedSampler(options.BackgroundSampleRatio);
        _perSecond = options.SamplesPerSecond;
        _otherwise = new SamplingResult(options.KeepsUnsampled ? SamplingDecision.RecordOnly : SamplingDecision.Drop);
        _time = time ?? TimeProvider.System;
        Description = $"ReservoirRatioSampler{{{options.SamplesPerSecond}/s,{options.SampleRatio}}}";
    }

    /// <summary>
    /// This sampler for new traces; a caller's sampled flag is followed; a span under an unsampled
    /// caller is recorded (kept if it fails or is slow) when errors or slow spans are to be kept.
    /// </summary>
    public static Sampler ParentBased(TraceSamplingOptions options, TimeProvider? time = null)
    {
        Sampler unsampledParent = options.KeepsUnsampled ? new FixedSampler(SamplingDecision.RecordOnly) : new AlwaysOffSampler();
        return new ParentBasedSampler(new ReservoirRatioSampler(options, time),
            remoteParentSampled: new AlwaysOnSampler(), remoteParentNotSampled: unsampledParent,
            localParentSampled: new AlwaysOnSampler(), localParentNotSampled: new AlwaysOffSampler());
    }

    private sealed class FixedSampler(SamplingDecision decision) : Sampler
    {
        private readonly SamplingResult _result = new(decision);
        public override SamplingResult ShouldSample(in SamplingParameters samplingParameters) => _result;
    }

    public override SamplingResult ShouldSample(in SamplingParameters samplingParameters)
    {
        if (IsBackground(samplingParameters))
        {
            var background = _backgroundRatio.ShouldSample(samplingParameters);
            return background.Decision == SamplingDecision.RecordAndSample ? background : _otherwise;
        }
        if (_perSecond > 0 && TakeFromReservoir()) return new SamplingResult(SamplingDecision.RecordAndSample);
        var byRatio = _ratio.ShouldSample(samplingParameters);
        return byRatio.Decision == SamplingDecision.RecordAndSample ? byRatio : _otherwise;
    }

    /// <summary>A root the service started by itself (not a server span), unless it asked to be a trace root.</summary>
    internal static bool IsBackground(in SamplingParameters parameters)
    {
        if (parameters.Kind == ActivityKind.Server) return false;
        if (parameters.Tags is { } tags)
            foreach (var tag in tags)
                if (tag.Key == ServeTelemetry.TraceRootTag) return false;
        return true;
    }

    private bool TakeFromReservoir()
    {
        var second = _time.GetTimestamp() / _time.TimestampFrequency;
        var window = Volatile.Read(ref _window);
        // The thread that moves the window resets the count; a race at the boundary costs at most a few extra samples.
        if (window != second && Interlocked.CompareExchange(ref _window, second, window) == window) Volatile.Write(ref _taken, 0);
        return Interlocked.Increment(ref _taken) <= _perSecond;
    }
}

/// <summary>
/// Marks a recorded-but-unsampled span as sampled when it ends with an error or after
/// <c>KeepSlowerThanMs</c>, so the exporter (registered after this processor) sends it.
/// </summary>
public sealed class KeepErrorsAndSlowProcessor(TraceSamplingOptions options) : BaseProcessor<Activity>
{
    private readonly TimeSpan _slow = options.KeepSlowerThanMs > 0 ? TimeSpan.FromMilliseconds(options.KeepSlowerThanMs) : TimeSpan.MaxValue;

    public override void OnEnd(Activity data)
    {
        if (data.Recorded || !data.IsAllDataRequested) return;
        if ((options.KeepErrors && data.Status == ActivityStatusCode.Error) || data.Duration >= _slow)
            data.ActivityTraceFlags |= ActivityTraceFlags.Recorded;
    }
}
