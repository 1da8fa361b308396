namespace ServeAspire.Proxy;

/// <summary>Identity and drain state of this proxy process.</summary>
internal sealed class ProxyLifecycle
{
    public string InstanceId { get; } = Guid.NewGuid().ToString("N")[..12];
    public volatile bool Draining;

    private long _inFlight;
    public long InFlight => Interlocked.Read(ref _inFlight);
    public void RequestStarted() => Interlocked.Increment(ref _inFlight);
    public void RequestEnded() => Interlocked.Decrement(ref _inFlight);
}
