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
        if (current <= 0) return Math.Clamp(totalOngoing > 0 ? 1 : 0, spec.MinReplicas, spec.MaxReplicas);
        var errorRatio = totalOngoing / (spec.TargetOngoingRequests * current);
        var factor = errorRatio >= 1
            ? spec.UpscalingFactor ?? spec.UpscaleSmoothingFactor
            : spec.DownscalingFactor ?? spec.DownscaleSmoothingFactor;
        var smoothed = 1 + (errorRatio - 1) * factor;
        // Ceiling, but not on floating-point dust: 4 × 1.0000000001 is 4, not 5.
        var desired = (int)Math.Ceiling(Math.Round(current * smoothed, 9));
        return Math.Clamp(desired, spec.MinReplicas, spec.MaxReplicas);
    }
}
