using System.Runtime.InteropServices;

namespace ServeAspire.ReplicaHost.Nodes;

/// <summary>
/// Makes the node agent non-dumpable (prctl PR_SET_DUMPABLE 0), as ssh-agent does: its
/// <c>/proc/PID/environ</c> and memory then belong to root, so a replica, a child running user code
/// as the same user, cannot read the cluster token or the Redis password from its parent. It does not
/// protect against root, nor against files the user can read (locally: <c>.state/</c>); see docs/security.md.
/// Side effect: no core dumps of the node agent and no debugger attach without root.
/// </summary>
internal static partial class ProcessHardening
{
    private const int PrSetDumpable = 4;

    public static bool MakeNonDumpable()
    {
        if (!OperatingSystem.IsLinux()) return false;
        return Prctl(PrSetDumpable, 0, 0, 0, 0) == 0;
    }

    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    private static partial int Prctl(int option, ulong arg2, ulong arg3, ulong arg4, ulong arg5);
}
