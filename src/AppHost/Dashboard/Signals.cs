using System.Runtime.InteropServices;

namespace ServeAspire.AppHost.Dashboard;

/// <summary>kill(2): the drills signal the services' own processes (the PIDs they report), not DCP's wrappers.</summary>
internal static partial class Signals
{
    public const int SigTerm = 15;
    public const int SigKill = 9;

    /// <returns>False when no such process exists (or it is not ours to signal).</returns>
    public static bool Send(int pid, int signal) => pid > 1 && kill(pid, signal) == 0;

    [DllImport("libc", SetLastError = true)]
#pragma warning disable SYSLIB1054, CA5392 // a one-line P/Invoke of libc; no marshalling to generate
    private static extern int kill(int pid, int sig);
#pragma warning restore SYSLIB1054, CA5392
}
