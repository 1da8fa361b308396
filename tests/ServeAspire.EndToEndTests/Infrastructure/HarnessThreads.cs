using System.Runtime.CompilerServices;

namespace ServeAspire.EndToEndTests.Infrastructure;

internal static class HarnessThreads
{
    /// <summary>
    /// This process runs the AppHost (Aspire's orchestration, resource commands) and the open-loop load
    /// at once. Measured: Aspire's handling of a resource command blocked thread-pool threads long enough
    /// that, with the 2-core default minimum of 2 threads, the pool stalled for ~1 s (the load's 10 ms probe
    /// was 995 ms late, and requests started 986 ms behind schedule): the client, not the system, stalled.
    /// More threads up front keep the load on schedule; LoadReport.MaxLagMs is asserted so it stays so.
    /// </summary>
    [ModuleInitializer]
    internal static void Initialize()
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, 32), Math.Max(io, 32));
    }
}
