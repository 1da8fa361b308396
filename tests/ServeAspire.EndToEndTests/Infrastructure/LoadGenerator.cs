using System.Diagnostics;
using System.Globalization;

namespace ServeAspire.EndToEndTests.Infrastructure;

/// <summary>
/// Open-loop load on loopback, the load every failure test runs under: request n starts at n / rate
/// whatever the earlier answers take (a stalled system does not slow the arrivals, as it would with
/// closed-loop workers), each with a client timeout well below the scenario's length, so a stall shows
/// as failures and latency instead of fewer requests. Bounded by count, duration and requests in flight.
/// Every request is recorded: when it started, how long it took, status, the PID that answered.
/// </summary>
public sealed class LoadGenerator : IAsyncDisposable
{
    /// <param name="LagMs">How late the request started against its schedule (the open loop's own health).</param>
    public sealed record Sample(TimeSpan StartedAt, double Ms, int Status, int? Pid, string? Error, double LagMs = 0)
    {
        public bool Ok => Error is null && Status is >= 200 and < 300;
        public TimeSpan EndedAt => StartedAt + TimeSpan.FromMilliseconds(Ms);
    }

    private readonly List<Sample> _samples = [];
    private readonly List<Task> _requests = [];
    private readonly Lock _lock = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly CancellationTokenSource _stop;
    private readonly Task _run;
    private readonly HttpClient _http;
    private int _inFlight;
    private readonly Task _poolProbe;
    private double _poolStallMs;
    private TimeSpan? _faultAt, _recoveredAt;

    /// <param name="clientTimeout">Per request (default 5 s); a request slower than this is a failure.</param>
    /// <param name="maxInFlight">The open loop's only bound: past it a due request is recorded as failed, not sent.</param>
    public LoadGenerator(IReadOnlyList<Uri> targets, int requestsPerSecond = 100, TimeSpan? maxDuration = null, int maxRequests = 30_000,
        TimeSpan? clientTimeout = null, int maxInFlight = 1_000)
    {
        _http = new HttpClient(new SocketsHttpHandler { UseProxy = false, PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30) })
        {
            Timeout = clientTimeout ?? TimeSpan.FromSeconds(5),
        };
        _stop = new CancellationTokenSource(maxDuration ?? TimeSpan.FromSeconds(240));
        // The harness's own health: a 10 ms timer on the thread pool; a late tick means this process (which also
        // hosts the AppHost) could not run the load's continuations on time, i.e. the client, not the system, stalled.
        _poolProbe = Task.Run(async () =>
        {
            var last = _clock.Elapsed;
            while (!_stop.IsCancellationRequested)
            {
                try { await Task.Delay(10, _stop.Token); } catch (OperationCanceledException) { break; }
                var now = _clock.Elapsed;
                var late = (now - last).TotalMilliseconds - 10;
                if (late > _poolStallMs) _poolStallMs = late;
                last = now;
            }
        });
        var interval = TimeSpan.FromSeconds(1.0 / requestsPerSecond);
        _run = Task.Run(async () =>
        {
            for (var n = 0; n < maxRequests && !_stop.IsCancellationRequested; n++)
            {
                var wait = interval * n - _clock.Elapsed;
                if (wait > TimeSpan.Zero)
                {
                    try { await Task.Delay(wait, _stop.Token); } catch (OperationCanceledException) { break; }
                }
                var target = targets[n % targets.Count];
                if (Volatile.Read(ref _inFlight) >= maxInFlight)
                {
                    Record(new Sample(_clock.Elapsed, 0, 0, null, $"not sent: {maxInFlight} requests already in flight"));
                    continue;
                }
                Interlocked.Increment(ref _inFlight);
                var request = SendAsync(target, interval * n);
                lock (_lock) _requests.Add(request);
            }
        });
    }

    private async Task SendAsync(Uri target, TimeSpan due)
    {
        var started = _clock.Elapsed;
        var lag = (started - due).TotalMilliseconds;
        Sample sample;
        try
        {
            using var response = await _http.GetAsync(target);
            var body = await response.Content.ReadAsStringAsync();
            int? pid = int.TryParse(body, NumberStyles.Integer, CultureInfo.InvariantCulture, out var p) ? p : null;
            sample = new Sample(started, (_clock.Elapsed - started).TotalMilliseconds, (int)response.StatusCode, pid,
                response.IsSuccessStatusCode && pid is null ? $"not a PID: {body}" : response.IsSuccessStatusCode ? null : $"{(int)response.StatusCode}: {body}", lag);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            sample = new Sample(started, (_clock.Elapsed - started).TotalMilliseconds, 0, null,
                ex is TaskCanceledException ? $"client timeout ({_http.Timeout.TotalSeconds:F0} s)" : ex.GetType().Name + ": " + ex.Message, lag);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
        Record(sample);
    }

    private void Record(Sample sample)
    {
        lock (_lock) _samples.Add(sample);
    }

    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>Marks the moment the fault is injected: call it right before the fault.</summary>
    public void MarkFault() => _faultAt = _clock.Elapsed;

    /// <summary>Marks the end of the fault window (the system back at full strength).</summary>
    public void MarkRecovered() => _recoveredAt = _clock.Elapsed;

    public TimeSpan FaultAt => _faultAt ?? throw new InvalidOperationException("no fault marked");

    /// <summary>Waits until at least <paramref name="count"/> requests have completed (default: 2 s of load, so a precondition can look at a whole second of it).</summary>
    public Task WarmUpAsync(int count = 200) =>
        ServeApp.WaitUntilAsync(() => Task.FromResult(Count), n => n >= count, TimeSpan.FromSeconds(30), $"{count} completed requests");

    public int Count { get { lock (_lock) return _samples.Count; } }

    /// <summary>A copy of the requests completed so far.</summary>
    public IReadOnlyList<Sample> Completed() { lock (_lock) return [.. _samples]; }

    /// <summary>Stops starting requests, waits for those in flight (at most the client timeout), and reports.</summary>
    public async Task<LoadReport> StopAsync()
    {
        await _stop.CancelAsync();
        await _run;
        await _poolProbe;
        Task[] requests;
        lock (_lock) requests = [.. _requests];
        await Task.WhenAll(requests);
        List<Sample> samples;
        lock (_lock) samples = [.. _samples.OrderBy(s => s.StartedAt)];
        return new LoadReport(samples, _faultAt, _recoveredAt ?? _clock.Elapsed) { HarnessStallMs = _poolStallMs };
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested) await _stop.CancelAsync();
        try { await _run; } catch (OperationCanceledException) { }
        try { await _poolProbe; } catch (OperationCanceledException) { }
        Task[] requests;
        lock (_lock) requests = [.. _requests];
        await Task.WhenAll(requests);
        _http.Dispose();
        _stop.Dispose();
    }
}

/// <summary>What the load saw, with the fault window [fault, recovered] the latency figures are taken over.</summary>
public sealed record LoadReport(IReadOnlyList<LoadGenerator.Sample> Samples, TimeSpan? FaultAt, TimeSpan RecoveredAt)
{
    /// <summary>The longest the test process's thread pool was late on a 10 ms timer during the run.</summary>
    public double HarnessStallMs { get; init; }

    public int Sent => Samples.Count;
    public int Failed => Samples.Count(s => !s.Ok);

    public TimeSpan Duration => Samples.Count == 0 ? TimeSpan.Zero : Samples[^1].StartedAt - Samples[0].StartedAt;
    public double RequestsPerSecond => Duration.TotalSeconds > 0 ? Sent / Duration.TotalSeconds : 0;

    /// <summary>Requests that overlap the fault window: in flight when it struck, or started before full strength.</summary>
    public IReadOnlyList<LoadGenerator.Sample> DuringFault => FaultAt is { } f
        ? Samples.Where(s => s.EndedAt >= f && s.StartedAt <= RecoveredAt).ToList()
        : Samples;

    /// <summary>Requests started before the fault and still unanswered when it struck.</summary>
    public int InFlightAtFault => FaultAt is { } f ? Samples.Count(s => s.StartedAt < f && s.EndedAt > f) : 0;

    public double P99MsDuringFault => Percentile(DuringFault.Select(s => s.Ms), 0.99);
    public double MaxMsDuringFault => DuringFault.Count == 0 ? 0 : DuringFault.Max(s => s.Ms);

    /// <summary>The latest any request started against its schedule: large means the load generator itself was starved.</summary>
    public double MaxLagMs => Samples.Count == 0 ? 0 : Samples.Max(s => s.LagMs);

    /// <summary>The same report restricted to some requests (e.g. those in flight when the fault hit).</summary>
    public LoadReport Only(Func<LoadGenerator.Sample, bool> keep) => this with { Samples = Samples.Where(keep).ToList() };

    public static double Percentile(IEnumerable<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
    }

    /// <summary>The slowest requests, relative to the fault (for reading a p99).</summary>
    public string Slowest(int n = 5) => string.Join("; ", Samples.OrderByDescending(s => s.Ms).Take(n)
        .Select(s => $"{s.Ms:F0} ms at {(s.StartedAt - (FaultAt ?? TimeSpan.Zero)).TotalSeconds:+0.0;-0.0} s (pid {s.Pid}, started {s.LagMs:F0} ms late)"));

    public string Harness => string.Create(CultureInfo.InvariantCulture, $"harness: latest start {MaxLagMs:F0} ms behind schedule, thread pool up to {HarnessStallMs:F0} ms late");

    public string FailureSummary => string.Join("; ", Samples.Where(s => !s.Ok).GroupBy(s => s.Error).Select(g => $"{g.Count()}× {g.Key}").Take(5));

    /// <summary>
    /// The line each failure test prints: scenario, sent, failed, in flight at the fault, p99 and slowest
    /// during the fault window (ms), seconds to full strength; also appended to $SERVE_FAILOVER_REPORT when
    /// set (bench/failover.sh).
    /// </summary>
    public string Line(string scenario, double secondsToFullStrength)
    {
        var line = string.Create(CultureInfo.InvariantCulture,
            $"{scenario}, {Sent}, {Failed}, {InFlightAtFault}, {P99MsDuringFault:F1}, {MaxMsDuringFault:F0}, {secondsToFullStrength:F1}");
        if (Environment.GetEnvironmentVariable("SERVE_FAILOVER_REPORT") is { Length: > 0 } path)
            File.AppendAllLines(path, [line]);
        return $"{line}\n  {Harness}";
    }
}
