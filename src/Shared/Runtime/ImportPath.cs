namespace ServeAspire.Runtime;

/// <summary>
/// <c>import_path</c>: <c>&lt;assembly&gt;:&lt;type&gt;</c>, or Ray's dotted form <c>&lt;assembly&gt;.&lt;type&gt;</c>
/// (split at the last dot). Format rules as in Ray's schema.
/// </summary>
public static class ImportPath
{
    public static string? FormatError(string path)
    {
        if (path.Contains(':'))
        {
            if (path.Count(c => c == ':') != 1 || path.StartsWith(':') || path.EndsWith(':'))
                return $"import_path '{path}' must be '<assembly>:<type>' with exactly one ':' that is neither first nor last";
            return null;
        }
        if (!path.Contains('.') || path.StartsWith('.') || path.EndsWith('.'))
            return $"import_path '{path}' must be '<assembly>:<type>' (or '<assembly>.<type>')";
        return null;
    }

    public static (string Assembly, string Type) Split(string path)
    {
        var colon = path.IndexOf(':');
        if (colon > 0) return (path[..colon], path[(colon + 1)..]);
        var dot = path.LastIndexOf('.');
        return (path[..dot], path[(dot + 1)..]);
    }
}
