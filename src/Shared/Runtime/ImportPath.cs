using ServeAspire.Config;

namespace ServeAspire.Runtime;

/// <summary>
/// <c>import_path</c>: <c>&lt;assembly&gt;:&lt;type&gt;</c>, or Ray's dotted form <c>&lt;assembly&gt;.&lt;type&gt;</c>
/// (split at the last dot). Format rules as in Ray's schema, plus confinement: the assembly part is a
/// plain assembly name, never a path, so a config can only name assemblies in the probe folders.
/// </summary>
public static class ImportPath
{
    public const int MaxLength = 512;
    public const int MaxAssemblyNameLength = 128;

    /// <summary>
    /// Why the path is malformed, or null. Decided from the text alone: the answer never depends on
    /// what exists on disk, so it tells nothing about the filesystem.
    /// </summary>
    public static string? FormatError(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (path.Length > MaxLength)
            return $"import_path must be at most {MaxLength} characters long (got {path.Length} characters)";
        var shown = ConfigText.Clip(path);
        if (path.Contains(':'))
        {
            if (path.Count(c => c == ':') != 1 || path.StartsWith(':') || path.EndsWith(':'))
                return $"import_path '{shown}' must be '<assembly>:<type>' with exactly one ':' that is neither first nor last";
        }
        else if (!path.Contains('.') || path.StartsWith('.') || path.EndsWith('.'))
            return $"import_path '{shown}' must be '<assembly>:<type>' (or '<assembly>.<type>')";

        var (assembly, type) = Split(path);
        if (!IsPlainAssemblyName(assembly))
            return $"import_path '{shown}': the assembly part must be a plain assembly name (letters, digits, '.', '_' and '-', at most {MaxAssemblyNameLength} characters), not a path";
        if (!IsTypeName(type))
            return $"import_path '{shown}': the type part must be a .NET type name (letters, digits, '_', '.' and '+')";
        return null;
    }

    public static (string Assembly, string Type) Split(string path)
    {
        var colon = path.IndexOf(':');
        if (colon > 0) return (path[..colon], path[(colon + 1)..]);
        var dot = path.LastIndexOf('.');
        return (path[..dot], path[(dot + 1)..]);
    }

    /// <summary>
    /// ASCII letters, digits, '.', '_' and '-', no leading '.' or '-', no trailing '.', no "..": nothing that a
    /// path API could read as a separator, a root, a drive or a parent folder.
    /// </summary>
    internal static bool IsPlainAssemblyName(string name) =>
        name.Length is > 0 and <= MaxAssemblyNameLength &&
        name[0] is not ('.' or '-') && name[^1] != '.' &&
        !name.Contains("..", StringComparison.Ordinal) &&
        name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    private static bool IsTypeName(string name) =>
        name.Length > 0 && name.All(c => char.IsLetterOrDigit(c) || c is '_' or '.' or '+');
}
