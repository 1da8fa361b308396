using System.Reflection;
using System.Runtime.Loader;

namespace ServeAspire.Runtime;

/// <summary>A resolved deployment class.</summary>
public sealed record DeploymentClassInfo(string ImportPath, Type Type, string DeploymentName, DeploymentAttribute Defaults)
{
    public bool HasHealthCheck => typeof(IHealthCheckedDeployment).IsAssignableFrom(Type);
    public bool IsReconfigurable => typeof(IReconfigurable).IsAssignableFrom(Type);

    /// <summary>
    /// What the class's code is, as content: the SHA-256 of its assembly file as it is on disk now (so
    /// new code dropped into the deployment folder is a new version, even where the old assembly is
    /// already loaded), else the module's version id (an assembly loaded without a file).
    /// </summary>
    public string CodeHash => AssemblyContentHash(Type.Assembly);

    public static string AssemblyContentHash(Assembly assembly)
    {
        var location = assembly.Location;
        return (string.IsNullOrEmpty(location) ? null : FileContentHash(location)) ?? assembly.ManifestModule.ModuleVersionId.ToString("N");
    }

    /// <summary>The SHA-256 of a file's bytes (hex), or null when it cannot be read.</summary>
    public static string? FileContentHash(string path)
    {
        try
        {
            using var file = File.OpenRead(path);
            return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(file));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return null; }
    }
}

/// <summary>Finds the .NET class an <c>import_path</c> names.</summary>
public interface IDeploymentResolver
{
    DeploymentClassInfo? Resolve(string importPath, out string? error);
}

/// <summary>
/// Resolves import paths against assemblies in the application folder and in the folders listed in
/// <c>SERVE_DEPLOYMENT_PATH</c> (':'-separated), where users put their deployment assemblies.
/// </summary>
public sealed class DeploymentCatalog : IDeploymentResolver
{
    public const string PathVariable = "SERVE_DEPLOYMENT_PATH";
    private readonly IReadOnlyList<string> _probeDirs;
    private readonly Lock _lock = new();

    public DeploymentCatalog(IEnumerable<string>? extraDirs = null)
    {
        var dirs = new List<string> { AppContext.BaseDirectory };
        dirs.AddRange(extraDirs ?? []);
        var env = Environment.GetEnvironmentVariable(PathVariable);
        if (!string.IsNullOrEmpty(env)) dirs.AddRange(env.Split(':', StringSplitOptions.RemoveEmptyEntries));
        _probeDirs = dirs.Distinct().ToList();
    }

    public DeploymentClassInfo? Resolve(string importPath, out string? error)
    {
        error = ImportPath.FormatError(importPath);
        if (error is not null) return null;
        var (assemblyName, typeName) = ImportPath.Split(importPath);
        var assembly = LoadAssembly(assemblyName);
        if (assembly is null)
        {
            error = $"import_path '{importPath}': no assembly '{assemblyName}' found (looked in {string.Join(", ", _probeDirs)}; add folders with {PathVariable})";
            return null;
        }
        Type[] types;
        try { types = assembly.GetExportedTypes(); }
        catch (Exception ex) when (ex is ReflectionTypeLoadException or FileNotFoundException)
        {
            error = $"import_path '{importPath}': assembly '{assemblyName}' could not be loaded: {ex.Message}";
            return null;
        }
        var matches = types.Where(t => t.FullName == typeName).ToList();
        if (matches.Count == 0) matches = types.Where(t => t.Name == typeName).ToList();
        if (matches.Count == 0)
        {
            var candidates = types.Where(IsDeploymentClass).Select(t => t.Name).ToList();
            error = $"import_path '{importPath}': assembly '{assemblyName}' has no public type '{typeName}'" +
                (candidates.Count > 0 ? $"; deployment classes there: {string.Join(", ", candidates)}" : "");
            return null;
        }
        if (matches.Count > 1)
        {
            error = $"import_path '{importPath}': '{typeName}' is ambiguous ({string.Join(", ", matches.Select(t => t.FullName))}); use the full type name";
            return null;
        }
        var type = matches[0];
        if (!IsDeploymentClass(type))
        {
            error = $"import_path '{importPath}': '{type.FullName}' is not a deployment class (it must be a public, non-abstract class implementing {nameof(IDeployment)} with a public parameterless constructor)";
            return null;
        }
        var attr = type.GetCustomAttribute<DeploymentAttribute>() ?? new DeploymentAttribute();
        return new DeploymentClassInfo(importPath, type, string.IsNullOrWhiteSpace(attr.Name) ? type.Name : attr.Name, attr);
    }

    private static bool IsDeploymentClass(Type t) =>
        t is { IsClass: true, IsAbstract: false, IsPublic: true } &&
        typeof(IDeployment).IsAssignableFrom(t) &&
        t.GetConstructor(Type.EmptyTypes) is not null;

    /// <summary>
    /// An assembly already loaded in this process (e.g. Samples, which the services reference), else
    /// <c>&lt;dir&gt;/&lt;name&gt;.dll</c> from a probe folder. There is deliberately no
    /// <c>Assembly.Load(name)</c> fallback: it would load whatever the runtime can find (the shared
    /// framework, the app's dependencies), and a config must only reach the folders it was given.
    /// </summary>
    private Assembly? LoadAssembly(string name)
    {
        lock (_lock)
        {
            var loaded = AppDomain.CurrentDomain.GetAssemblies().FirstOrDefault(a => a.GetName().Name == name);
            if (loaded is not null) return loaded;
            foreach (var dir in _probeDirs)
            {
                if (ProbePath(dir, name) is not { } path || !File.Exists(path)) continue;
                try { return AssemblyLoadContext.Default.LoadFromAssemblyPath(path); }
                catch (Exception ex) when (ex is BadImageFormatException or IOException or UnauthorizedAccessException) { return null; }
            }
            return null;
        }
    }

    /// <summary>
    /// The full path of <c>&lt;name&gt;.dll</c> directly inside <paramref name="dir"/>, or null when it
    /// would land anywhere else. ImportPath already refuses names that are paths; this is defence in
    /// depth, so a future caller that skips that check still cannot leave the probe folders.
    /// </summary>
    internal static string? ProbePath(string dir, string name)
    {
        try
        {
            var folder = Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir));
            var file = Path.GetFullPath(Path.Combine(folder, name + ".dll"));
            return string.Equals(Path.GetDirectoryName(file), folder, StringComparison.Ordinal) ? file : null;
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
        {
            return null;
        }
    }
}
