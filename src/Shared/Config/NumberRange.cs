using System.Globalization;
using System.Text.Json.Nodes;

namespace ServeAspire.Config;

/// <summary>
/// The values a numeric field allows. The check and the message come from the same description, so a
/// message always states the range that was actually enforced.
/// </summary>
internal readonly record struct NumberRange(double Min, double Max, bool Integer = false, bool MinExclusive = false, bool MinusOneMeansNoLimit = false)
{
    public static NumberRange Ints(long min, long max) => new(min, max, Integer: true);
    public static NumberRange Positive(double max) => new(0, max, MinExclusive: true);
    public static NumberRange Between(double min, double max) => new(min, max);

    public bool Contains(double value) =>
        (MinusOneMeansNoLimit && value == -1) || ((MinExclusive ? value > Min : value >= Min) && value <= Max);

    /// <summary>E.g. "between 1 and 10000" or "greater than 0 and at most 3600".</summary>
    public string Bounds =>
        (MinusOneMeansNoLimit ? "-1 (no limit) or " : "") +
        (MinExclusive ? $"greater than {F(Min)} and at most {F(Max)}" : $"between {F(Min)} and {F(Max)}");

    public string OutOfRange(JsonNode? value) => $"must be {Bounds} (got {ConfigText.Show(value)})";

    public string WrongType(JsonNode? value) =>
        $"must be {(Integer ? "an integer" : "a number")}{(MinusOneMeansNoLimit ? ":" : "")} {Bounds} (got {ConfigText.Show(value)})";

    private static string F(double d) => d.ToString(CultureInfo.InvariantCulture);
}

/// <summary>The fixed ranges of deployment and HTTP fields (the cluster-dependent ones are in <see cref="ConfigLimits"/>).</summary>
internal static class FieldRanges
{
    public static readonly NumberRange MaxOngoingRequests = NumberRange.Ints(1, 10_000);
    public static readonly NumberRange MaxQueuedRequests = new(1, 1_000_000, Integer: true, MinusOneMeansNoLimit: true);
    public static readonly NumberRange HealthCheckSeconds = NumberRange.Positive(3600);
    public static readonly NumberRange GracefulShutdownSeconds = NumberRange.Between(0, 3600);
    public static readonly NumberRange MaxReplicasPerNode = NumberRange.Ints(1, 100);
    public static readonly NumberRange MaxConstructorRetryCount = NumberRange.Ints(1, 1000);
    public static readonly NumberRange RequestTimeoutSeconds = NumberRange.Positive(3600);
    public static readonly NumberRange TargetCapacity = NumberRange.Between(0, 100);
    public static readonly NumberRange Port = NumberRange.Ints(1, 65535);

    // autoscaling_config (the replica counts depend on the cluster cap).
    public static readonly NumberRange TargetOngoingRequests = NumberRange.Positive(1_000_000);
    public static readonly NumberRange AutoscalingSeconds = NumberRange.Between(0, 86_400);
    public static readonly NumberRange AutoscalingFactor = NumberRange.Positive(100);
}
