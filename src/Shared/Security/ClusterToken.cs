using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Configuration;

namespace ServeAspire.Security;

/// <summary>
/// The cluster token: one shared secret that every control-plane call carries as
/// <c>Authorization: Bearer</c> (Ray's RAY_AUTH_MODE=token, on by default here). Services get it in
/// <c>SERVE_AUTH_TOKEN</c> (the AppHost's secret parameter, a Kubernetes Secret) or a file named by
/// <c>SERVE_AUTH_TOKEN_PATH</c>; clients also fall back to <c>.state/auth_token</c>.
/// </summary>
public sealed class ClusterToken
{
    public const string EnvVariable = "SERVE_AUTH_TOKEN";
    public const string PathVariable = "SERVE_AUTH_TOKEN_PATH";
    public const string FileName = "auth_token";
    /// <summary>Configuration key that turns authentication off (<c>disabled</c>); anything but <c>token</c> or <c>disabled</c> is refused.</summary>
    public const string AuthModeKey = "Serve:AuthMode";
    public const int MinLength = 16;
    public const int MaxLength = 1024;

    private readonly byte[]? _hash;

    private ClusterToken(string? token)
    {
        Value = token;
        _hash = token is null ? null : SHA256.HashData(Encoding.UTF8.GetBytes(token));
    }

    /// <summary>Null when authentication is disabled.</summary>
    public string? Value { get; }
    public bool Disabled => Value is null;

    public static ClusterToken DisabledToken { get; } = new(null);

    public static ClusterToken Of(string token)
    {
        token = token.Trim();
        if (token.Length is < MinLength or > MaxLength) throw new InvalidOperationException($"the cluster token must be {MinLength} to {MaxLength} characters");
        return new ClusterToken(token);
    }

    /// <summary>
    /// What a service uses: <c>Serve:AuthMode</c> (default <c>token</c>), then the token from
    /// <c>SERVE_AUTH_TOKEN</c> or <c>SERVE_AUTH_TOKEN_PATH</c>. Throws, naming what is missing, when
    /// authentication is on and no token is found: a service never runs open by accident.
    /// </summary>
    public static ClusterToken FromConfiguration(IConfiguration configuration)
    {
        var mode = configuration[AuthModeKey] ?? "token";
        if (string.Equals(mode, "disabled", StringComparison.OrdinalIgnoreCase)) return DisabledToken;
        if (!string.Equals(mode, "token", StringComparison.OrdinalIgnoreCase))
            throw new InvalidOperationException($"{AuthModeKey} must be 'token' (the default) or 'disabled', got '{mode}'");
        var token = Find(configuration[EnvVariable], configuration[PathVariable], stateDir: null, out var tried);
        return token is null
            ? throw new InvalidOperationException($"authentication is on ({AuthModeKey}=token) but no cluster token was found ({tried}); set {EnvVariable} or {PathVariable}, or {AuthModeKey}=disabled to run without")
            : Of(token);
    }

    /// <summary>What a client uses: <c>SERVE_AUTH_TOKEN</c>, then <c>SERVE_AUTH_TOKEN_PATH</c>, then <c>&lt;stateDir&gt;/auth_token</c>.</summary>
    public static string? FindForClient(string? stateDir, out string tried) =>
        FindForClient(Environment.GetEnvironmentVariable, stateDir, out tried);

    /// <summary>As <see cref="FindForClient(string?, out string)"/>, reading the environment through <paramref name="env"/> (the CLI under test runs in-process).</summary>
    public static string? FindForClient(Func<string, string?> env, string? stateDir, out string tried) =>
        Find(env(EnvVariable), env(PathVariable), stateDir, out tried);

    private static string? Find(string? value, string? path, string? stateDir, out string tried)
    {
        if (!string.IsNullOrWhiteSpace(value))
        {
            tried = EnvVariable;
            return value.Trim();
        }
        var files = new List<string>();
        if (!string.IsNullOrWhiteSpace(path)) files.Add(path);
        if (!string.IsNullOrWhiteSpace(stateDir)) files.Add(Path.Combine(stateDir, FileName));
        tried = string.Join(", ", new[] { EnvVariable }.Concat(files));
        foreach (var file in files)
            if (File.Exists(file) && File.ReadAllText(file).Trim() is { Length: > 0 } text)
                return text;
        return null;
    }

    /// <summary>Constant-time check of a presented token (hashes first, so the length leaks nothing either).</summary>
    public bool Matches(ReadOnlySpan<char> presented)
    {
        if (_hash is null) return true;
        // Longer than any valid token: hash only a bounded prefix (it cannot match), so the work stays bounded.
        var bounded = presented.Length > MaxLength + 1 ? presented[..(MaxLength + 1)] : presented;
        Span<byte> bytes = stackalloc byte[Encoding.UTF8.GetMaxByteCount(bounded.Length)];
        var n = Encoding.UTF8.GetBytes(bounded, bytes);
        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(bytes[..n]), _hash);
    }

    /// <summary>A fresh random token (URL-safe, 43 characters).</summary>
    public static string Generate() =>
        Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>
    /// Writes <paramref name="token"/> to <paramref name="path"/>, created with mode 600 from the start
    /// (never world-readable, not even for an instant). An existing file is replaced by a new one.
    /// </summary>
    public static void WriteFile(string path, string token)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temp = path + ".tmp-" + Environment.ProcessId;
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var stream = new FileStream(temp, options))
            stream.Write(Encoding.UTF8.GetBytes(token + "\n"));
        File.Move(temp, path, overwrite: true);
    }
}
