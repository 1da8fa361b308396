using System.Diagnostics;
using ServeAspire.EndToEndTests.Infrastructure;

namespace ServeAspire.EndToEndTests.Failures;

/// <summary>Shared shape of a failure test: steady load, fault, wait for full strength, numbers.</summary>
internal static class FailureScenario
{
    /// <summary>The load every failure test asserts it ran under (issue: at least 50 req/s).</summary>
    public const int RequestsPerSecond = 100;

    public static string Config(string extraApps = "", int sleepyReplicas = 6) => $$"""
        http_options: { request_timeout_s: 30 }
        applications:
          - name: sleepy
            route_prefix: /
            import_path: Samples:SleepyPid
            deployments:
              - name: SleepyPid
                num_replicas: {{sleepyReplicas}}
        {{extraApps}}
        """;

    public static LoadGenerator Load(ServeApp app, string path = "/") =>
        new([new Uri(app.Proxy(0), path), new Uri(app.Proxy(1), path)], RequestsPerSecond);

    /// <summary>Asserts the run's numbers: real load, zero failures.</summary>
    public static void AssertNoFailures(LoadReport report)
    {
        Assert.True(report.RequestsPerSecond >= 50, $"load was {report.RequestsPerSecond:F0} req/s, below 50");
        Assert.True(report.Failed == 0, $"{report.Failed} of {report.Sent} requests failed: {report.FailureSummary}");
    }

    public static async Task<double> SecondsUntilAsync(LoadGenerator load, Func<Task<bool>> fullStrength, TimeSpan timeout, string what)
    {
        await ServeApp.WaitUntilAsync(fullStrength, ok => ok, timeout, what);
        return (load.Elapsed - load.FaultAt).TotalSeconds;
    }

    public static Task<IReadOnlyList<ReplicaView>> RunningAsync(ServeApp app, int count, string application = "sleepy", string deployment = "SleepyPid") =>
        ServeApp.WaitUntilAsync(() => app.ReplicasAsync(application, deployment), r => r.Count(x => x.State == "RUNNING") == count,
            TimeSpan.FromSeconds(90), $"{count} RUNNING {deployment} replicas");

    public static void Kill(int pid)
    {
        using var p = Process.GetProcessById(pid);
        p.Kill(); // SIGKILL
    }
}
