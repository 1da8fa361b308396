namespace ServeAspire.Runtime;

public static class TimerExtensions
{
    /// <summary>Waits for the next tick; false when the timer is disposed or the host is stopping (no exception).</summary>
    public static async Task<bool> WaitTickAsync(this PeriodicTimer timer, CancellationToken cancellationToken)
    {
        try { return await timer.WaitForNextTickAsync(cancellationToken); }
        catch (OperationCanceledException) { return false; }
    }
}
