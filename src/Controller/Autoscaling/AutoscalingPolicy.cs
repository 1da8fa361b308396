using ServeAspire.Config;

namespace ServeAspire.Controller.Autoscaling;

/// <summary>
/// Ray Serve's default policy (<c>replica_queue_length_autoscaling_policy</c>): the replica count that
/// would bring the average ongoing requests per replica to <c>target_ongoing_requests</c>, moved only part
/// of the way by the up/down scaling factor, clamped to [min_replicas, max_replicas]. Pure.
/// </summary>
public static class AutoscalingPolicy
{
    /// <param name="current">The current target replica count.</param>
    /// <param name="totalOngoing">Requests in flight or queued over all proxies, averaged over the look-back period.</param>
    public static int DesiredReplicas(AutoscalingSpec spec, int current, double totalOngoing)
    {
        // From zero (Ray's scale-from-zero): no ratio to smooth; as many replicas as the waiting requests need, at least 1.
        if (current <= 0)
            return Math.Clamp(totalOngoing > 0 ? Math.Max(1, CeilingOf(totalOngoing / spec.TargetOngoingRequests)) : 0, spec.MinReplicas, spec.MaxReplicas);
        var errorRatio = totalOngoing / (spec.TargetOngoingRequests * current);
        var factor = errorRatio >= 1
            ? spec.UpscalingFactor ?? spec.UpscaleSmoothingFactor
            : spec.DownscalingFactor ?? spec.DownscaleSmoothingFactor;
        var smoothed = 1 + (errorRatio - 1) * factor;
        var desired = CeilingOf(current * smoothed);
        // No load at all moves down at least one: with a damping factor below 1 the ceiling alone would hold
        // 1 replica (ceil(1 × 0.5) = 1) forever, and min_replicas 0 never be reached.
        if (totalOngoing <= 0 && desired >= current) desired = current - 1;
        return Math.Clamp(desired, spec.MinReplicas, spec.MaxReplicas);
    }

    /// <summary>Ceiling, but not on floating-point dust: 4 × 1.0000000001 is 4, not 5.</summary>
    private static int CeilingOf(double value) => (int)Math.Min(int.MaxValue, Math.Ceiling(Math.Round(value, 9)));
}
