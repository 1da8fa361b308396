using ServeAspire.Model;

namespace ServeAspire.ReplicaHost.Replicas;

/// <summary>
/// A replica stand-in for control-plane scale tests (<c>Node:Simulated</c>): no process and no user code.
/// It is RUNNING at once (there is no constructor to wait for), is listed with the node's own pid, and
/// its traffic is answered by the node itself (<see cref="Apis.SimulatedReplicasApi"/>). A stop goes
/// STOPPING → DEAD after a short delay, like a real replica with nothing in flight, so the controller
/// sees the same lifecycle; and it dies with its node, as a child process does.
/// </summary>
internal sealed partial class SimulatedReplica : IReplica
{
    /// <summary>The exit code a replica process killed by SIGKILL reports.</summary>
    public const int KilledExitCode = 137;

    // What the node reports for a replica process that exited after SIGTERM.
    private const string StoppedMessage = "exited with code 0";

    private readonly Lock _lock = new();
    private readonly string _url;
    private readonly TimeSpan _stopDelay;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ReplicaProcessState _state = ReplicaProcessState.RUNNING;
    private ITimer? _stopTimer;
    private int? _exitCode;
    private string? _message;

    public SimulatedReplica(StartReplicaRequest request, int pid, string url, TimeSpan stopDelay, TimeProvider time, ILogger logger)
    {
        Request = request;
        Pid = pid;
        _url = url;
        _stopDelay = stopDelay;
        _time = time;
        _logger = logger;
        StartedAt = time.GetUtcNow();
    }

    public StartReplicaRequest Request { get; }
    public int Pid { get; }
    public DateTimeOffset StartedAt { get; }
    public DateTimeOffset? ExitedAt { get; private set; }
    public ReplicaProcessState State { get { lock (_lock) return _state; } }
    public event Action<IReplica>? OnExit;

    public ReplicaProcessInfo Snapshot()
    {
        lock (_lock)
            return new ReplicaProcessInfo(Request.ReplicaId, Request.Application, Request.Deployment, _state, Pid, _url, StartedAt, _exitCode, _message,
                Request.CodeVersion, _userConfigVersion ?? NullIfEmpty(Request.UserConfigVersion));
    }

    private string? _userConfigVersion;
    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;

    /// <summary>A stand-in runs no user code: the new config counts as applied at once.</summary>
    public bool Reconfigure(ReconfigureReplicaRequest request)
    {
        lock (_lock)
        {
            if (_state == ReplicaProcessState.DEAD) return false;
            _userConfigVersion = request.UserConfigVersion;
            return true;
        }
    }

    /// <summary>
    /// STOPPING now, DEAD after the stop delay. A stand-in has no requests to finish, so the graceful
    /// timeout never runs out: only the delay passes.
    /// </summary>
    public Task StopAsync(TimeSpan gracefulTimeout, CancellationToken cancellationToken)
    {
        bool stopping;
        lock (_lock)
        {
            stopping = _state == ReplicaProcessState.RUNNING;
            if (stopping)
            {
                _state = ReplicaProcessState.STOPPING;
                // Armed under the lock, so whoever sees STOPPING knows the exit is already scheduled (tests advance a fake clock on that).
                if (_stopDelay > TimeSpan.Zero)
                    _stopTimer = _time.CreateTimer(_ => Exit(0, StoppedMessage), null, _stopDelay, Timeout.InfiniteTimeSpan);
            }
        }
        if (stopping)
        {
            Log.Stopping(_logger, Request.Deployment, Request.ReplicaId, _stopDelay.TotalMilliseconds);
            if (_stopDelay <= TimeSpan.Zero) Exit(0, StoppedMessage);
        }
        return _exited.Task.WaitAsync(cancellationToken);
    }

    public void Kill(string? reason = null) => Exit(KilledExitCode, reason ?? "killed (SIGKILL)");

    public void Dispose() => Kill();

    private void Exit(int exitCode, string message)
    {
        lock (_lock)
        {
            if (_state == ReplicaProcessState.DEAD) return;
            _state = ReplicaProcessState.DEAD;
            _exitCode = exitCode;
            _message = message;
            ExitedAt = _time.GetUtcNow();
            _stopTimer?.Dispose();
            _stopTimer = null;
        }
        Log.Exited(_logger, Request.Deployment, Request.ReplicaId, exitCode, message);
        _exited.TrySetResult();
        OnExit?.Invoke(this);
    }

    private static partial class Log
    {
        [LoggerMessage(131, LogLevel.Information, "Stopping simulated replica {Deployment}#{ReplicaId}: DEAD in {DelayMs} ms")]
        public static partial void Stopping(ILogger logger, string deployment, string replicaId, double delayMs);

        [LoggerMessage(132, LogLevel.Information, "Simulated replica {Deployment}#{ReplicaId} exited: code {ExitCode}, {Message}")]
        public static partial void Exited(ILogger logger, string deployment, string replicaId, int exitCode, string message);
    }
}
