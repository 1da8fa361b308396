using System.Text.Json;
using System.Text.Json.Nodes;

namespace ServeAspire.Config;

// runtime_env: env_vars become the replica processes' environment; Ray's other fields mean nothing to .NET.
public sealed partial class ConfigValidator
{
    private static readonly string[] RuntimeEnvKeys =
    [
        "env_vars", "working_dir", "py_modules", "py_executable", "pip", "uv", "conda", "container", "image_uri",
        "config", "excludes", "java_jars", "nsight", "worker_process_setup_hook", "_ray_commit",
    ];
    private static readonly HashSet<string> RuntimeEnvIgnored = [.. RuntimeEnvKeys.Where(k => k != "env_vars")];

    public const int MaxEnvVars = 64;
    public const int MaxEnvVarNameLength = 128;
    public const int MaxEnvVarValueLength = 4096;

    /// <summary>
    /// Names a config may not set: they steer the .NET runtime, the dynamic loader, ServeAspire's own
    /// settings or telemetry export (a replica's environment is an allowlist; see ReplicaEnvironment).
    /// </summary>
    private static readonly string[] ReservedEnvPrefixes = ["SERVE_", "DOTNET_", "CORECLR_", "COREHOST_", "ASPNETCORE_", "OTEL_", "LD_"];
    private static readonly HashSet<string> ReservedEnvNames = ["PATH", "HOME"];

    private EnvVarMap RuntimeEnv(JsonNode? node, string loc)
    {
        if (node is null || node.GetValueKind() == JsonValueKind.Null) return EnvVarMap.Empty;
        if (node is not JsonObject obj)
        {
            Error(loc, $"must be a mapping, got {ConfigText.Show(node)}");
            return EnvVarMap.Empty;
        }
        CheckKeys(obj, loc, RuntimeEnvKeys, RuntimeEnvIgnored);
        if (obj["env_vars"] is not { } ev || ev.GetValueKind() == JsonValueKind.Null) return EnvVarMap.Empty;
        if (ev is not JsonObject vars)
        {
            Error($"{loc}.env_vars", $"must be a mapping of names to strings, got {ConfigText.Show(ev)}");
            return EnvVarMap.Empty;
        }
        if (vars.Count > MaxEnvVars)
        {
            Error($"{loc}.env_vars", $"must have at most {MaxEnvVars} variables (got {vars.Count})");
            return EnvVarMap.Empty;
        }
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in vars)
        {
            var vloc = $"{loc}.env_vars.{ConfigText.Clip(name)}";
            if (!IsEnvVarName(name))
                Error(vloc, $"'{ConfigText.Clip(name)}' is not an environment variable name (letters, digits and '_', not starting with a digit, at most {MaxEnvVarNameLength} characters)");
            else if (ReservedEnvNames.Contains(name) || ReservedEnvPrefixes.Any(p => name.StartsWith(p, StringComparison.OrdinalIgnoreCase)))
                Error(vloc, $"'{name}' is reserved: a config may not set PATH, HOME or names starting with {string.Join(", ", ReservedEnvPrefixes)} (they steer the runtime, the loader or ServeAspire itself)");
            else if (value is not JsonValue v || v.GetValueKind() != JsonValueKind.String)
                Error(vloc, $"must be a string (Ray's env_vars are Dict[str, str]), got {ConfigText.Show(value)}");
            else if (v.GetValue<string>() is var text && text.Length > MaxEnvVarValueLength)
                Error(vloc, $"must be at most {MaxEnvVarValueLength} characters long (got {text.Length})");
            else if (text.Contains('\0'))
                Error(vloc, "must not contain a NUL character");
            else
                result[name] = text;
        }
        return new EnvVarMap(result);
    }

    private static bool IsEnvVarName(string name) =>
        name.Length is > 0 and <= MaxEnvVarNameLength && !char.IsAsciiDigit(name[0]) &&
        name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');
}
