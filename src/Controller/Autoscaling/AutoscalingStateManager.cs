using System.Diagnostics.Metrics;
using System.Globalization;
using ServeAspire.Config;
using ServeAspire.Controller.Deployments;
using ServeAspire.Model;

namespace ServeAspire.Controller.Autoscaling;

/// <summary>
/// Ray's AutoscalingStateManager: per autoscaled deployment, the total ongoing requests the proxies report
/// (each proxy's latest report counts while it is fresh), averaged over <c>look_back_period_s</c>; the
/// policy's desired count; and the delays: a scale-up happens once the policy has wanted more for
/// <c>upscale_delay_s</c> without interruption, a scale-down after <c>downscale_delay_s</c>. From a target of
/// 0 (<c>min_replicas: 0</c>) any reported request scales up at once, as Ray does: requests are waiting at
/// the proxies for the first replica, so a delay would only add to their cold start.
/// It runs only in the leader's control loop, so it pauses while no controller leads. A new leader starts
/// with no history and no delay clocks: with no reports it decides nothing (it never reads silence as
/// zero load), and the target it resumes from is the checkpointed one.
/// </summary>
public sealed partial class AutoscalingStateManager
{
    private readonly ILogger<AutoscalingStateManager> logger;
    private readonly Lock _gaugeLock = new();
    private Dictionary<string, (double Total, int Desired, int Target)> _gauges = new(StringComparer.Ordinal);

    /// <param name="meters">When given, Ray's <c>serve_autoscaling_*</c> gauges are published on the "ServeAspire" meter.</param>
    public AutoscalingStateManager(ILogger<AutoscalingStateManager> logger, IMeterFactory? meters = null)
    {
        this.logger = logger;
        if (meters is null) return;
        var meter = meters.Create("ServeAspire");
        meter.CreateObservableGauge("serve_autoscaling_total_requests", () => Gauge(g => g.Total), description: "Ongoing requests (in flight + queued) the autoscaler averaged over its look-back period");
        meter.CreateObservableGauge("serve_autoscaling_desired_replicas", () => Gauge(g => (double)g.Desired), description: "Replicas the autoscaling policy wants now, before the delays");
        meter.CreateObservableGauge("serve_autoscaling_target_replicas", () => Gauge(g => (double)g.Target), description: "The deployment's current target replica count");
    }

    private IEnumerable<Measurement<double>> Gauge(Func<(double Total, int Desired, int Target), double> pick)
    {
        Dictionary<string, (double, int, int)> gauges;
        lock (_gaugeLock) gauges = _gauges;
        foreach (var (key, g) in gauges)
        {
            var cut = key.IndexOf('\n', StringComparison.Ordinal);
            yield return new(pick(g), new KeyValuePair<string, object?>("application", key[..cut]), new KeyValuePair<string, object?>("deployment", key[(cut + 1)..]));
        }
    }

    /// <summary>A proxy report older than this is a dead or cut-off proxy's last word, not load.</summary>
    public static readonly TimeSpan ReportFreshness = TimeSpan.FromSeconds(5);

    private sealed class State
    {
        public readonly Queue<(DateTimeOffset At, double Total)> Samples = new();
        public DateTimeOffset? WantUpSince;
        public DateTimeOffset? WantDownSince;
    }

    private readonly Dictionary<string, State> _states = new(StringComparer.Ordinal);

    /// <summary>A new tenure: history and delay clocks start over.</summary>
    public void Reset() => _states.Clear();

    /// <summary>
    /// Folds in the proxies' reports and returns the decisions due now.
    /// </summary>
    /// <param name="deployments">Autoscaled deployments: key (<see cref="RouteEntry.Key"/>), spec, current target.</param>
    public IReadOnlyList<Decision> Update(IReadOnlyList<(string Key, AutoscalingSpec Spec, int Current)> deployments,
        IReadOnlyList<OngoingRequestsReport> reports, DateTimeOffset now)
    {
        var fresh = reports.Where(r => now - DateTimeOffset.FromUnixTimeMilliseconds(r.AtMs) <= ReportFreshness).ToList();
        var decisions = new List<Decision>();
        var keys = new HashSet<string>(StringComparer.Ordinal);
        var gauges = new Dictionary<string, (double, int, int)>(StringComparer.Ordinal);
        foreach (var (key, spec, current) in deployments)
        {
            keys.Add(key);
            if (!_states.TryGetValue(key, out var state)) _states[key] = state = new State();
            if (fresh.Count > 0)
                state.Samples.Enqueue((now, fresh.Sum(r => r.Deployments.GetValueOrDefault(key))));
            var window = TimeSpan.FromSeconds(Math.Max(spec.LookBackPeriodS, 0));
            while (state.Samples.Count > 1 && now - state.Samples.Peek().At > window) state.Samples.Dequeue();
            if (state.Samples.Count == 0) continue; // no data: no decision
            var average = state.Samples.Average(s => s.Total);
            if (current == 0)
            {
                // The latest report, not the look-back average: a burst after a long idle stretch would be
                // diluted by the zeros before it and start too few replicas.
                var demand = Math.Max(average, state.Samples.Last().Total);
                var fromZero = AutoscalingPolicy.DesiredReplicas(spec, 0, demand);
                gauges[key] = (average, fromZero, current);
                state.WantDownSince = null;
                state.WantUpSince = null;
                if (fromZero > 0)
                    decisions.Add(new Decision(key, 0, fromZero, demand, string.Create(CultureInfo.InvariantCulture,
                        $"{demand:0.##} ongoing requests waiting with no replica, target {spec.TargetOngoingRequests:0.##} per replica: {fromZero} replicas at once (scale up from 0, without upscale_delay_s; bounds {spec.MinReplicas}..{spec.MaxReplicas})")));
                continue;
            }
            var desired = AutoscalingPolicy.DesiredReplicas(spec, current, average);
            gauges[key] = (average, desired, current);
            if (desired > current)
            {
                state.WantDownSince = null;
                state.WantUpSince ??= now;
                if (now - state.WantUpSince >= TimeSpan.FromSeconds(spec.UpscaleDelayS))
                {
                    decisions.Add(new Decision(key, current, desired, average, Reason(average, spec, desired, current, spec.UpscaleDelayS, "up")));
                    state.WantUpSince = null;
                }
            }
            else if (desired < current)
            {
                state.WantUpSince = null;
                state.WantDownSince ??= now;
                if (now - state.WantDownSince >= TimeSpan.FromSeconds(spec.DownscaleDelayS))
                {
                    decisions.Add(new Decision(key, current, desired, average, Reason(average, spec, desired, current, spec.DownscaleDelayS, "down")));
                    state.WantDownSince = null;
                }
            }
            else
            {
                state.WantUpSince = null;
                state.WantDownSince = null;
            }
        }
        foreach (var gone in _states.Keys.Where(k => !keys.Contains(k)).ToList()) _states.Remove(gone);
        foreach (var d in decisions) gauges[d.Key] = (d.AverageOngoing, d.To, d.To);
        lock (_gaugeLock) _gauges = gauges;
        foreach (var d in decisions) Log.Decided(logger, d.Key.Replace('\n', '/'), d.From, d.To, d.Reason);
        return decisions;
    }

    private static string Reason(double average, AutoscalingSpec spec, int desired, int current, double delayS, string direction) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{average:0.##} ongoing requests on average over {spec.LookBackPeriodS:0.##} s, target {spec.TargetOngoingRequests:0.##} per replica: {desired} replicas wanted for {delayS:0.##} s (scale {direction} from {current}; bounds {spec.MinReplicas}..{spec.MaxReplicas})");

    /// <summary>An autoscaling decision for deployment <see cref="Key"/>.</summary>
    public sealed record Decision(string Key, int From, int To, double AverageOngoing, string Reason);

    private static partial class Log
    {
        [LoggerMessage(460, LogLevel.Information, "Autoscaling {Deployment}: {From} -> {To} replicas ({Reason})")]
        public static partial void Decided(ILogger logger, string deployment, int from, int to, string reason);
    }
}
