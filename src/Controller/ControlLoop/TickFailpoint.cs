using Microsoft.Extensions.Options;

namespace ServeAspire.Controller.ControlLoop;

/// <summary>
/// A failpoint (in the spirit of etcd's gofail) that parks one control-loop tick at a named position with
/// its fencing token in hand: the only way to make a deposed leader act on a stale token on purpose, which
/// a SIGSTOP alone cannot (on resume the local lease expiry already stops the next tick). Off unless
/// <see cref="ControllerOptions.FailpointFile"/> is set. Protocol, all by files:
/// the test writes the position into FILE; the first tick to reach it renames FILE to FILE.held (so only
/// one process parks), appends its PID, and waits until FILE.held is deleted.
/// </summary>
public sealed class TickFailpoint(IOptions<ControllerOptions> options, TimeProvider time)
{
    /// <summary>At the start of a tick, token taken: the whole tick then runs on it (observe, decide, publish, act, checkpoint).</summary>
    public const string AtTickStart = "tick";
    /// <summary>After the store confirmed the token and before the node calls: the window node fencing exists for.</summary>
    public const string BeforeActing = "act";

    public async Task HoldAsync(string position, CancellationToken cancellationToken)
    {
        if (options.Value.FailpointFile is not { Length: > 0 } file || !File.Exists(file)) return;
        var held = file + ".held";
        try
        {
            if ((await File.ReadAllTextAsync(file, cancellationToken)).Trim() != position) return;
            File.Move(file, held);
        }
        catch (IOException)
        {
            return; // another process took it first, or the test removed it
        }
        await File.AppendAllTextAsync(held, $" {Environment.ProcessId}", cancellationToken);
        while (File.Exists(held)) await Task.Delay(TimeSpan.FromMilliseconds(50), time, cancellationToken);
    }
}
