namespace ServeAspire.Config;

/// <param name="Loc">Where the problem is, e.g. <c>applications[0].deployments[0].num_replicas</c>.</param>
public sealed record ConfigError(string Loc, string Msg);

public sealed record ConfigValidationResult(
    ServeDeployConfig? Config,
    IReadOnlyList<ConfigError> Errors,
    IReadOnlyList<string> Ignored)
{
    public bool IsValid => Config is not null && Errors.Count == 0;

    /// <summary>Ray-compatible summary line ("N validation error(s) for ServeDeploySchema").</summary>
    public string Summary => $"{Errors.Count} validation error{(Errors.Count == 1 ? "" : "s")} for ServeDeploySchema: " +
        string.Join("; ", Errors.Select(e => string.IsNullOrEmpty(e.Loc) ? e.Msg : $"{e.Loc}: {e.Msg}"));
}
