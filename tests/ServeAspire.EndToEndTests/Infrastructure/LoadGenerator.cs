using System.Diagnostics;
using System.Globalization;

namespace ServeAspire.EndToEndTests.Infrastructure;

/// <summary>
/// A bounded, paced client loop on loopback (the "steady load" every failure test runs under):
/// requests at a fixed rate over a few connections, stopping by itself after a maximum count or
/// duration. Every request is recorded: when it started, how long it took, status, the PID answered.
/// </summary>
public sealed class LoadGenerator : IAsyncDisposable
{
    public sealed record Sample(TimeSpan StartedAt, double Ms, int Status, int? Pid, string? Error)
    {
        public bool Ok => Error is null && Status is >= 200 and < 300;
    }

    private readonly List<Sample> _samples = [];
    private readonly Lock _lock = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly CancellationTokenSource _stop;
    private readonly Task _run;
    private readonly HttpClient _http = new(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = 64 }) { Timeout = TimeSpan.FromSeconds(30) };
    private TimeSpan? _faultAt;

    public LoadGenerator(IReadOnlyList<Uri> targets, int requestsPerSecond = 100, int workers = 8, TimeSpan? maxDuration = null, int maxRequests = 30_000)
    {
        _stop = new CancellationTokenSource(maxDuration ?? TimeSpan.FromSeconds(150));
        var interval = TimeSpan.FromSeconds(1.0 / requestsPerSecond);
        long issued = -1;
        _run = Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                var n = Interlocked.Increment(ref issued);
                if (n >= maxRequests) break;
                var due = interval * n;
                var wait = due - _clock.Elapsed;
                if (wait > TimeSpan.Zero)
                {
                    try { await Task.Delay(wait, _stop.Token); } catch (OperationCanceledException) { break; }
                }
                await SendAsync(targets[(int)(n % targets.Count)]);
            }
        })));
    }

    private async Task SendAsync(Uri target)
    {
        var started = _clock.Elapsed;
        Sample sample;
        try
        {
            using var response = await _http.GetAsync(target);
            var body = await response.Content.ReadAsStringAsync();
            int? pid = int.TryParse(body, NumberStyles.Integer, CultureInfo.InvariantCulture, out var p) ? p : null;
            sample = new Sample(started, (_clock.Elapsed - started).TotalMilliseconds, (int)response.StatusCode, pid,
                response.IsSuccessStatusCode && pid is null ? $"not a PID: {body}" : response.IsSuccessStatusCode ? null : $"{(int)response.StatusCode}: {body}");
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            sample = new Sample(started, (_clock.Elapsed - started).TotalMilliseconds, 0, null, ex.GetType().Name + ": " + ex.Message);
        }
        lock (_lock) _samples.Add(sample);
    }

    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>Marks the moment the fault is injected (for the "during fault" percentile).</summary>
    public void MarkFault() => _faultAt = _clock.Elapsed;

    public TimeSpan FaultAt => _faultAt ?? throw new InvalidOperationException("no fault marked");

    /// <summary>Waits until at least <paramref name="count"/> requests have completed (load is really flowing).</summary>
    public Task WarmUpAsync(int count = 50) =>
        ServeApp.WaitUntilAsync(() => Task.FromResult(Count), n => n >= count, TimeSpan.FromSeconds(30), $"{count} warm-up requests");

    public int Count { get { lock (_lock) return _samples.Count; } }

    public async Task<LoadReport> StopAsync()
    {
        await _stop.CancelAsync();
        await _run;
        List<Sample> samples;
        lock (_lock) samples = [.. _samples];
        var duration = samples.Count == 0 ? TimeSpan.Zero : samples.Max(s => s.StartedAt) - samples.Min(s => s.StartedAt);
        var during = _faultAt is { } f ? samples.Where(s => s.StartedAt >= f).ToList() : samples;
        return new LoadReport(samples, samples.Count, samples.Count(s => !s.Ok), duration, Percentile(during.Select(s => s.Ms), 0.99), _faultAt);
    }

    internal static double Percentile(IEnumerable<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested) await _stop.CancelAsync();
        try { await _run; } catch (OperationCanceledException) { }
        _http.Dispose();
        _stop.Dispose();
    }
}

public sealed record LoadReport(IReadOnlyList<LoadGenerator.Sample> Samples, int Sent, int Failed, TimeSpan Duration, double P99MsDuringFault, TimeSpan? FaultAt)
{
    public double RequestsPerSecond => Duration.TotalSeconds > 0 ? Sent / Duration.TotalSeconds : 0;

    /// <summary>The same report restricted to some requests (e.g. those in flight when the fault hit).</summary>
    public LoadReport Only(Func<LoadGenerator.Sample, bool> keep)
    {
        var kept = Samples.Where(keep).ToList();
        var duration = kept.Count == 0 ? TimeSpan.Zero : kept.Max(s => s.StartedAt) - kept.Min(s => s.StartedAt);
        return new LoadReport(kept, kept.Count, kept.Count(s => !s.Ok), duration, LoadGenerator.Percentile(kept.Select(s => s.Ms), 0.99), FaultAt);
    }

    /// <summary>The slowest requests, relative to the fault (for reading a p99).</summary>
    public string Slowest(int n = 5) => string.Join("; ", Samples.OrderByDescending(s => s.Ms).Take(n)
        .Select(s => $"{s.Ms:F0} ms at {(s.StartedAt - (FaultAt ?? TimeSpan.Zero)).TotalSeconds:+0.0;-0.0} s"));

    public string FailureSummary => string.Join("; ", Samples.Where(s => !s.Ok).GroupBy(s => s.Error).Select(g => $"{g.Count()}× {g.Key}").Take(5));

    /// <summary>
    /// The line each failure test prints (issue: "scenario, sent, failed, p99 ms during fault,
    /// seconds to full strength"); also appended to $SERVE_FAILOVER_REPORT when set (bench/failover.sh).
    /// </summary>
    public string Line(string scenario, double secondsToFullStrength)
    {
        var line = string.Create(CultureInfo.InvariantCulture,
            $"{scenario}, {Sent}, {Failed}, {P99MsDuringFault:F1}, {secondsToFullStrength:F1}");
        if (Environment.GetEnvironmentVariable("SERVE_FAILOVER_REPORT") is { Length: > 0 } path)
            File.AppendAllLines(path, [line]);
        return line;
    }
}
