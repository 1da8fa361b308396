namespace ServeAspire;

/// <summary>
/// Marks a class as a Serve deployment and sets its code-level defaults (the C# twin of
/// <c>@serve.deployment(...)</c>). Values set in the config file win over these; unset values
/// (negative or NaN) fall back to Serve's defaults.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class DeploymentAttribute : Attribute
{
    /// <summary>Deployment name; the class name when unset.</summary>
    public string? Name { get; set; }
    public int NumReplicas { get; set; } = -1;
    public int MaxOngoingRequests { get; set; } = -1;
    public int MaxQueuedRequests { get; set; } = -2;
    public double HealthCheckPeriodS { get; set; } = double.NaN;
    public double HealthCheckTimeoutS { get; set; } = double.NaN;
    public double GracefulShutdownTimeoutS { get; set; } = double.NaN;
    public double GracefulShutdownWaitLoopS { get; set; } = double.NaN;
    public int MaxReplicasPerNode { get; set; } = -1;
    public int MaxConstructorRetryCount { get; set; } = -1;
    /// <summary>Whether non-idempotent requests may be replayed on another replica.</summary>
    public bool RetryOnFailure { get; set; }
}
