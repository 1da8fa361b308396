using System.Diagnostics;
using System.Reflection;
using ServeAspire.EndToEndTests.Foundation;

namespace ServeAspire.EndToEndTests.Infrastructure;

/// <summary>
/// Runs the <c>serve</c> CLI (src/Cli's build output) as a process against an app's controller, with
/// the app's token file (SERVE_AUTH_TOKEN_PATH) and a working directory outside the repository, so no
/// dev .state is read and no SERVE_AUTH_TOKEN of the caller's leaks in.
/// </summary>
public static class CliRunner
{
    public sealed record Result(int ExitCode, string Out, string Error);

    private static string Dll { get; } = Path.Combine(SharedAppTests.RepoRoot(), "src", "Cli", "bin",
        typeof(CliRunner).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug", "net10.0", "ServeAspire.Cli.dll");

    public static async Task<Result> RunAsync(ServeApp app, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetTempPath(),
        };
        psi.ArgumentList.Add(Dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment.Remove("SERVE_AUTH_TOKEN");
        psi.Environment["SERVE_ADDRESS"] = app.Controller.ToString();
        psi.Environment["SERVE_AUTH_TOKEN_PATH"] = Path.Combine(app.StateDir, "auth_token");
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) psi.Environment[key] = value;
        using var process = Process.Start(psi)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try { await process.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw new TimeoutException($"serve {string.Join(' ', args)} did not exit within 60 s");
        }
        return new Result(process.ExitCode, await stdout, await stderr);
    }

    public static Task<Result> RunAsync(ServeApp app, params string[] args) => RunAsync(app, null, args);
}
