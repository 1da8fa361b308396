using System.Diagnostics;
using System.Runtime.InteropServices;
using ServeAspire.Model;

namespace ServeAspire.ReplicaHost.Replicas;

/// <summary>
/// One replica as an OS process of its own (so one replica's crash touches no other). The child's
/// stdin is a pipe held by this node process: when the node dies, even by kill -9, the pipe closes
/// and the replica exits (see <see cref="ReplicaMain"/>), so replicas never outlive their node.
/// </summary>
internal sealed partial class ReplicaProcess : IReplica
{
    public const string ReplicaVerb = "replica";
    public const string ListeningMarker = "@@serve:listening ";
    public const string ReadyMarker = "@@serve:ready ";
    public const string FailedMarker = "@@serve:failed ";
    public const string ReconfiguredMarker = "@@serve:reconfigured ";
    public const string ReconfigureFailedMarker = "@@serve:reconfigure-failed ";
    /// <summary>A line on the replica's stdin: <c>reconfigure VERSION BASE64(JSON)</c>.</summary>
    public const string ReconfigureCommand = "reconfigure";

    private readonly Process _process;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ReplicaProcessState _state = ReplicaProcessState.STARTING;
    private string? _url;
    private string? _message;
    private int? _exitCode;
    private string? _userConfigVersion;
    private string? _reconfigureError;
    private string? _advertisedHost;

    public StartReplicaRequest Request { get; }
    public DateTimeOffset StartedAt { get; }
    public DateTimeOffset? ExitedAt { get; private set; }
    public int Pid { get; }
    public Task Exited => _exited.Task;

    /// <summary>Raised once, when the process has exited.</summary>
    public event Action<IReplica>? OnExit;

    private ReplicaProcess(StartReplicaRequest request, Process process, ILogger logger, TimeProvider time)
    {
        Request = request;
        _process = process;
        _logger = logger;
        _time = time;
        StartedAt = time.GetUtcNow();
        Pid = process.Id;
    }

    /// <param name="advertisedHost">Where other processes reach the replica when <paramref name="bindAddress"/> is a wildcard (<see cref="Nodes.AdvertisedAddress"/>).</param>
    public static ReplicaProcess Start(StartReplicaRequest request, string nodeId, string bindAddress, string? advertisedHost, ILogger logger, TimeProvider time)
    {
        var psi = new ProcessStartInfo
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // Re-run this executable in replica mode (via the dotnet host when started as "dotnet X.dll").
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        psi.FileName = self;
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
            psi.ArgumentList.Add(typeof(ReplicaProcess).Assembly.Location);
        foreach (var a in new[]
                 {
                     ReplicaVerb, "--replica-id", request.ReplicaId, "--application", request.Application,
                     "--deployment", request.Deployment, "--import-path", request.ImportPath, "--node-id", nodeId, "--bind", bindAddress,
                     "--graceful-shutdown-timeout-s", request.GracefulShutdownTimeoutS.ToString(System.Globalization.CultureInfo.InvariantCulture),
                 })
            psi.ArgumentList.Add(a);
        // User code gets no credential and none of the node's settings (ports, store, token): an allowlist.
        ReplicaEnvironment.Restrict(psi.Environment);
        // runtime_env.env_vars: validated by the controller (reserved names refused), set on top of the allowlist.
        foreach (var (name, value) in request.EnvVars ?? new Dictionary<string, string>()) psi.Environment[name] = value;
        if (!string.IsNullOrEmpty(request.UserConfigVersion)) { psi.ArgumentList.Add("--user-config-version"); psi.ArgumentList.Add(request.UserConfigVersion); }
        psi.Environment["OTEL_SERVICE_NAME"] = $"replica-{request.Deployment}";
        psi.Environment["OTEL_RESOURCE_ATTRIBUTES"] = $"service.instance.id={request.ReplicaId},serve.node_id={nodeId}";

        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        process.Start();
        var replica = new ReplicaProcess(request, process, logger, time) { _advertisedHost = advertisedHost };
        process.OutputDataReceived += (_, e) => replica.OnOutput(e.Data);
        process.ErrorDataReceived += (_, e) => replica.OnOutput(e.Data);
        process.Exited += (_, _) => replica.OnProcessExited();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (process.HasExited) replica.OnProcessExited();
        // The initial user_config goes in before anything else: the replica applies it before it reports ready.
        if (request.UserConfig is not null && !string.IsNullOrEmpty(request.UserConfigVersion))
            replica.Reconfigure(new ReconfigureReplicaRequest(request.UserConfig, request.UserConfigVersion));
        return replica;
    }

    public ReplicaProcessInfo Snapshot()
    {
        lock (_lock)
            return new ReplicaProcessInfo(Request.ReplicaId, Request.Application, Request.Deployment, _state, Pid, _url, StartedAt, _exitCode, _message,
                Request.CodeVersion, _userConfigVersion, _reconfigureError);
    }

    /// <summary>
    /// Hands a user_config to the replica over its stdin pipe (the one the node already holds): no port
    /// to open and nothing another process could call. The replica answers with a marker line.
    /// </summary>
    public bool Reconfigure(ReconfigureReplicaRequest request)
    {
        var payload = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(request.UserConfig));
        lock (_stdinLock)
        {
            try
            {
                _process.StandardInput.WriteLine($"{ReconfigureCommand} {request.UserConfigVersion} {payload}");
                _process.StandardInput.Flush();
                return true;
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException or ObjectDisposedException)
            {
                return false; // the process is gone: its exit is reported on its own
            }
        }
    }

    private readonly Lock _stdinLock = new();

    public ReplicaProcessState State { get { lock (_lock) return _state; } }

    private void OnOutput(string? line)
    {
        if (line is null) return;
        if (line.StartsWith(ListeningMarker, StringComparison.Ordinal))
        {
            lock (_lock) _url = Nodes.AdvertisedAddress.Resolve(line[ListeningMarker.Length..].Trim(), _advertisedHost);
        }
        else if (line.StartsWith(ReadyMarker, StringComparison.Ordinal))
        {
            lock (_lock)
            {
                _url = Nodes.AdvertisedAddress.Resolve(line[ReadyMarker.Length..].Trim(), _advertisedHost);
                if (_state == ReplicaProcessState.STARTING) _state = ReplicaProcessState.RUNNING;
            }
            Log.ReplicaReady(_logger, Request.Deployment, Request.ReplicaId, Pid, _url);
        }
        else if (line.StartsWith(ReconfiguredMarker, StringComparison.Ordinal))
        {
            var version = line[ReconfiguredMarker.Length..].Trim();
            lock (_lock)
            {
                _userConfigVersion = version;
                _reconfigureError = null;
            }
            Log.ReplicaReconfigured(_logger, Request.Deployment, Request.ReplicaId, Pid, version);
        }
        else if (line.StartsWith(ReconfigureFailedMarker, StringComparison.Ordinal))
        {
            var rest = line[ReconfigureFailedMarker.Length..].Trim();
            var cut = rest.IndexOf(' ');
            var (version, error) = cut < 0 ? (rest, "") : (rest[..cut], rest[(cut + 1)..]);
            lock (_lock) _reconfigureError = $"{version}: {error}";
            Log.ReplicaReconfigureFailed(_logger, Request.Deployment, Request.ReplicaId, Pid, version, error);
        }
        else if (line.StartsWith(FailedMarker, StringComparison.Ordinal))
        {
            lock (_lock) _message = line[FailedMarker.Length..].Trim();
            Log.ReplicaConstructorFailed(_logger, Request.Deployment, Request.ReplicaId, _message);
        }
        else
            Log.ReplicaOutput(_logger, Request.Deployment, Request.ReplicaId, line);
    }

    private void OnProcessExited()
    {
        lock (_lock)
        {
            if (_state == ReplicaProcessState.DEAD) return;
            _state = ReplicaProcessState.DEAD;
            try { _exitCode = _process.ExitCode; } catch (InvalidOperationException) { }
            _message ??= _exitCode switch
            {
                137 or -9 => "killed (SIGKILL)",
                _ => $"exited with code {_exitCode}",
            };
            ExitedAt = _time.GetUtcNow();
        }
        Log.ReplicaExited(_logger, Request.Deployment, Request.ReplicaId, Pid, _exitCode, _message);
        _exited.TrySetResult();
        OnExit?.Invoke(this);
    }

    /// <summary>
    /// Graceful stop: SIGTERM lets the replica finish its in-flight requests; SIGKILL after the timeout.
    /// </summary>
    public async Task StopAsync(TimeSpan gracefulTimeout, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_state == ReplicaProcessState.DEAD) return;
            _state = ReplicaProcessState.STOPPING;
        }
        Log.ReplicaStopping(_logger, Request.Deployment, Request.ReplicaId, Pid, gracefulTimeout.TotalSeconds);
        _ = SysKill(Pid, SigTerm);
        try
        {
            await Exited.WaitAsync(gracefulTimeout, _time, cancellationToken);
        }
        catch (TimeoutException)
        {
            Log.ReplicaForceKilled(_logger, Request.Deployment, Request.ReplicaId, Pid);
            Kill();
        }
    }

    /// <summary>Immediate SIGKILL (the kill API, or the node shutting down past its budget).</summary>
    public void Kill(string? reason = null)
    {
        if (reason is not null)
            lock (_lock)
                if (_state != ReplicaProcessState.DEAD) _message = reason;
        try { _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } catch (System.ComponentModel.Win32Exception) { }
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }

    private const int SigTerm = 15;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SysKill(int pid, int sig);

    private static partial class Log
    {
        [LoggerMessage(100, LogLevel.Information, "Replica {Deployment}#{ReplicaId} (pid {Pid}) is RUNNING at {Url}")]
        public static partial void ReplicaReady(ILogger logger, string deployment, string replicaId, int pid, string? url);

        [LoggerMessage(101, LogLevel.Warning, "Replica {Deployment}#{ReplicaId} constructor failed: {Message}")]
        public static partial void ReplicaConstructorFailed(ILogger logger, string deployment, string replicaId, string? message);

        [LoggerMessage(102, LogLevel.Information, "[{Deployment}#{ReplicaId}] {Line}")]
        public static partial void ReplicaOutput(ILogger logger, string deployment, string replicaId, string line);

        [LoggerMessage(103, LogLevel.Warning, "Replica {Deployment}#{ReplicaId} (pid {Pid}) exited: code {ExitCode}, {Message}")]
        public static partial void ReplicaExited(ILogger logger, string deployment, string replicaId, int pid, int? exitCode, string? message);

        [LoggerMessage(104, LogLevel.Information, "Stopping replica {Deployment}#{ReplicaId} (pid {Pid}), graceful for {TimeoutS} s")]
        public static partial void ReplicaStopping(ILogger logger, string deployment, string replicaId, int pid, double timeoutS);

        [LoggerMessage(106, LogLevel.Information, "Replica {Deployment}#{ReplicaId} (pid {Pid}) applied user_config version {Version}")]
        public static partial void ReplicaReconfigured(ILogger logger, string deployment, string replicaId, int pid, string version);

        [LoggerMessage(107, LogLevel.Warning, "Replica {Deployment}#{ReplicaId} (pid {Pid}) could not apply user_config version {Version}: {Error}")]
        public static partial void ReplicaReconfigureFailed(ILogger logger, string deployment, string replicaId, int pid, string version, string error);

        [LoggerMessage(105, LogLevel.Warning, "Replica {Deployment}#{ReplicaId} (pid {Pid}) did not stop in time: killed")]
        public static partial void ReplicaForceKilled(ILogger logger, string deployment, string replicaId, int pid);
    }
}
