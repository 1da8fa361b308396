using System.Security.Cryptography;
using System.Text;

namespace ServeAspire.Config;

/// <summary>
/// runtime_env.env_vars: compared by content (a record holding a dictionary would compare references,
/// and a changed spec is how the controller notices an update).
/// </summary>
public sealed class EnvVarMap : IEquatable<EnvVarMap>
{
    public static EnvVarMap Empty { get; } = new(new Dictionary<string, string>());

    public EnvVarMap(IReadOnlyDictionary<string, string> values) =>
        Values = new SortedDictionary<string, string>(values.ToDictionary(), StringComparer.Ordinal);

    public IReadOnlyDictionary<string, string> Values { get; }
    public int Count => Values.Count;

    public bool Equals(EnvVarMap? other) =>
        other is not null && Values.Count == other.Values.Count &&
        Values.All(kv => other.Values.TryGetValue(kv.Key, out var v) && v == kv.Value);

    public override bool Equals(object? obj) => Equals(obj as EnvVarMap);
    public override int GetHashCode() => Values.Aggregate(Values.Count, (h, kv) => HashCode.Combine(h, kv.Key, kv.Value));
    public override string ToString() => string.Join(" ", Values.Select(kv => $"{kv.Key}={kv.Value}"));
}

/// <summary>
/// Ray's DeploymentVersion, split the way it decides: the <b>code version</b> (import path, the
/// assembly's content, runtime_env.env_vars) needs new replicas and rolls; the <b>user_config
/// version</b> is applied in place (reconfigure); everything else (num_replicas, max_ongoing_requests,
/// autoscaling, health checks) needs neither.
/// </summary>
public static class DeploymentVersion
{
    public static string Code(string importPath, string codeHash, EnvVarMap envVars)
    {
        var text = new StringBuilder().Append(importPath).Append('\n').Append(codeHash);
        foreach (var (k, v) in envVars.Values) text.Append('\n').Append(k).Append('=').Append(v);
        return Short(text.ToString());
    }

    /// <summary>Empty when there is no user_config (nothing to apply).</summary>
    public static string UserConfig(string? userConfigJson) => userConfigJson is null ? "" : Short(userConfigJson);

    private static string Short(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16];
}
