using System.Diagnostics;
using System.Reflection;

namespace ServeAspire.KubernetesTests;

/// <summary>Runs the AppHost's publish step as a user would (<c>publish-k8s --output DIR</c>) and the repo's scripts.</summary>
internal static class Publisher
{
    public static string RepoRoot { get; } = FindRoot();

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ServeAspire.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repo root not found");
    }

    /// <summary>
    /// The configuration these tests were built with (Debug, Release, ...), which the build also used for
    /// the AppHost they reference: <c>dotnet test -c Release</c> publishes with the Release AppHost.
    /// </summary>
    public static string Configuration { get; } =
        typeof(Publisher).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>() is { Configuration: { Length: > 0 } c }
            ? c
            : throw new InvalidOperationException("the test assembly carries no AssemblyConfigurationAttribute");

    public static string AppHostDll => Path.Combine(RepoRoot, "src", "AppHost", "bin", Configuration, "net10.0", "ServeAspire.AppHost.dll");

    public static string Publish(params string[] options)
    {
        var dir = Directory.CreateTempSubdirectory("serveaspire-k8s-").FullName;
        PublishInto(dir, options);
        return dir;
    }

    public static void PublishInto(string dir, params string[] options)
    {
        Assert.True(File.Exists(AppHostDll), $"{AppHostDll} is missing: build the solution with -c {Configuration} first");
        var (code, output) = Run("dotnet", [AppHostDll, "publish-k8s", "--output", dir, .. options], RepoRoot);
        Assert.True(code == 0, $"publish-k8s failed ({code}): {output}");
    }

    public static (int Code, string Output) Run(string file, IEnumerable<string> args, string workingDirectory, TimeSpan? timeout = null, IDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory };
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout ?? TimeSpan.FromMinutes(5)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }
}
