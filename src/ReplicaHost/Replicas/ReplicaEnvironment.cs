namespace ServeAspire.ReplicaHost.Replicas;

/// <summary>
/// The environment a replica process gets: an allowlist, not the node's environment minus a few
/// names. User code runs in replicas, so they get nothing that reaches the control plane: no store
/// connection string or password, no cluster token, no OTLP headers (they carry the dashboard's API
/// key), no node settings. Only what the .NET runtime, locale and telemetry export need.
/// </summary>
internal static class ReplicaEnvironment
{
    private static readonly HashSet<string> Names = new(StringComparer.Ordinal)
    {
        "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM",
        "ASPNETCORE_ENVIRONMENT", "DOTNET_ENVIRONMENT", Runtime.DeploymentCatalog.PathVariable,
        "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_METRICS_EXPORTER", "OTEL_TRACES_EXPORTER", "OTEL_LOGS_EXPORTER",
        "OTEL_BSP_SCHEDULE_DELAY", "OTEL_BLRP_SCHEDULE_DELAY", "OTEL_METRIC_EXPORT_INTERVAL", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
    };

    // The runtime's own knobs (DOTNET_ROOT, DOTNET_gcServer, …) and locale variables.
    private static readonly string[] Prefixes = ["DOTNET_", "LC_"];

    public static bool Allowed(string name) =>
        Names.Contains(name) || (Prefixes.Any(p => name.StartsWith(p, StringComparison.Ordinal)) && !LooksSecret(name));

    private static bool LooksSecret(string name) =>
        name.Contains("TOKEN", StringComparison.OrdinalIgnoreCase) || name.Contains("PASSWORD", StringComparison.OrdinalIgnoreCase) ||
        name.Contains("SECRET", StringComparison.OrdinalIgnoreCase) || name.Contains("KEY", StringComparison.OrdinalIgnoreCase) ||
        name.Contains("CONNECTION", StringComparison.OrdinalIgnoreCase);

    /// <summary>Removes every variable not on the allowlist from <paramref name="environment"/> (a ProcessStartInfo's copy of ours).</summary>
    /// <remarks>
    /// An OTLP endpoint that needs headers (the local Aspire dashboard's API key) is dropped as well:
    /// without them every export is refused, and the exporters cost each replica about 15 MB and a
    /// refused call per signal every second for nothing. An endpoint without headers (a collector in
    /// the cluster) is kept.
    /// </remarks>
    public static void Restrict(IDictionary<string, string?> environment)
    {
        var endpointNeedsHeaders = environment.TryGetValue("OTEL_EXPORTER_OTLP_HEADERS", out var headers) && !string.IsNullOrWhiteSpace(headers);
        foreach (var name in environment.Keys.Where(n => !Allowed(n)).ToList()) environment.Remove(name);
        if (endpointNeedsHeaders) environment.Remove("OTEL_EXPORTER_OTLP_ENDPOINT");
    }
}
