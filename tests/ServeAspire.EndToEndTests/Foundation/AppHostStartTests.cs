using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ServeAspire.EndToEndTests.Infrastructure;
using Xunit.Abstractions;

namespace ServeAspire.EndToEndTests.Foundation;

/// <summary>
/// The AppHost as ./run.sh runs it (its own process): a start that cannot finish exits non-zero and says why,
/// instead of idling and serving nothing (issue 36).
/// </summary>
public sealed class AppHostStartTests(ITestOutputHelper output)
{
    [Fact]
    public async Task AStoreThatCannotStart_MakesTheAppHostExitNonZero_NamingIt_AndLeavesNoProcess()
    {
        await ServeApp.EnsurePortsFreeAsync(TimeSpan.FromSeconds(30));
        // Something else holds the store's port: redis-server exits at once ("Address already in use").
        using var squatter = new TcpListener(IPAddress.Loopback, ServeApp.RedisPort);
        squatter.Start();
        var state = Directory.CreateTempSubdirectory("serveaspire-e2e-apphost-").FullName;
        var appHost = Path.Combine(SharedAppTests.RepoRoot(), "src", "AppHost", "bin", "Debug", "net10.0", "ServeAspire.AppHost.dll");
        Assert.True(File.Exists(appHost), $"{appHost} is not built");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = state };
        foreach (var a in new[] { appHost, $"--Serve:RedisPort={ServeApp.RedisPort}", $"--Serve:ControllerPort={ServeApp.ControllerPort}",
                     $"--Serve:ProxyBasePort={ServeApp.ProxyBasePort}", $"--Serve:StateDir={state}", "--Serve:Cluster=e2e", "--Serve:StartTimeoutSeconds=90" })
            psi.ArgumentList.Add(a);
        // What the launch profile gives ./run.sh, on ports of this test's own.
        psi.Environment["ASPIRE_ALLOW_UNSECURED_TRANSPORT"] = "true";
        psi.Environment["DOTNET_ENVIRONMENT"] = "Development";
        psi.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{FreePort()}";
        psi.Environment["ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL"] = $"http://127.0.0.1:{FreePort()}";
        psi.Environment["ASPIRE_RESOURCE_SERVICE_ENDPOINT_URL"] = $"http://127.0.0.1:{FreePort()}";
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            await process.WaitForExitAsync(bound.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"the AppHost was still running {clock.Elapsed.TotalSeconds:F0} s after a start that cannot finish");
        }
        var err = await stderr;
        output.WriteLine($"exit {process.ExitCode} after {clock.Elapsed.TotalSeconds:F1} s; stderr: {err.Trim()}");
        Assert.Equal(1, process.ExitCode);
        Assert.Contains("ServeAspire did not start: redis Finished (exit code 1)", err);
        Assert.Contains("before the app started", err);
        _ = await stdout;
        // DCP ends what it started once the AppHost is gone: nothing of this run is left (its state folder is in every store command line).
        var left = await ServeApp.WaitUntilAsync(() => Task.FromResult(ProcessesMentioning(state)), l => l.Count == 0, TimeSpan.FromSeconds(30), "the run's processes to exit");
        Assert.Empty(left);
        Directory.Delete(state, recursive: true);
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private static List<int> ProcessesMentioning(string text)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try { if (File.ReadAllText(Path.Combine(dir, "cmdline")).Contains(text, StringComparison.Ordinal)) found.Add(pid); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return found;
    }
}
