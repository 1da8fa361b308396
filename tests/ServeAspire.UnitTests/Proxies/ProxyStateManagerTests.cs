using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using ServeAspire.Controller;
using ServeAspire.Controller.Proxies;
using ServeAspire.Model;
using ServeAspire.UnitTests.Fakes;

namespace ServeAspire.UnitTests.Proxies;

public sealed class ProxyStateManagerTests
{
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UnixEpoch.AddDays(20000));
    private readonly FakeClusterStore _store = new();
    private readonly ScriptedProbe _probe = new();
    private readonly ProxyStateManager _manager;
    private ProxyRegistration _proxy = new("proxy-0", "p-i1", "http://proxy-0", 1, DateTimeOffset.UnixEpoch, false);

    public ProxyStateManagerTests()
    {
        _manager = new ProxyStateManager(_store, _probe, Options.Create(new ControllerOptions()), _clock, NullLogger<ProxyStateManager>.Instance);
        _store.Proxies.Add((_proxy, true));
    }

    /// <summary>Each check answers what <see cref="Next"/> says when it is completed; until then it is in flight.</summary>
    private sealed class ScriptedProbe : IProxyProbe
    {
        public TaskCompletionSource<(ProxyStatus, string?)>? Current { get; private set; }
        public int Checks { get; private set; }

        public Task<(ProxyStatus Status, string? Reason)> CheckAsync(string address, TimeSpan timeout, CancellationToken cancellationToken)
        {
            Checks++;
            Current = new TaskCompletionSource<(ProxyStatus, string?)>();
            return Current.Task;
        }

        public void Answer(ProxyStatus status) => Current!.SetResult((status, null));
    }

    private void Register(bool alive = true, bool draining = false)
    {
        _proxy = _proxy with { Draining = draining };
        _store.Proxies[0] = (_proxy, alive);
    }

    [Fact]
    public async Task AProxy_IsStartingUntilItsFirstCheck_WhichIsReadAtTheNextUpdate()
    {
        await _manager.UpdateAsync(default);
        Assert.Equal(ProxyStatus.STARTING, _manager.StatusOf(_proxy));
        Assert.Equal(1, _probe.Checks);

        await _manager.UpdateAsync(default); // the check is still in flight: the update does not wait for it
        Assert.Equal(1, _probe.Checks);
        Assert.Equal(ProxyStatus.STARTING, _manager.StatusOf(_proxy));

        _probe.Answer(ProxyStatus.HEALTHY);
        await _manager.UpdateAsync(default);
        Assert.Equal(ProxyStatus.HEALTHY, _manager.StatusOf(_proxy));
        Assert.Equal(2, _probe.Checks);
    }

    [Fact]
    public async Task ADrainingProxy_IsDrainingThenDrained_AndNeverHealthyAgain()
    {
        await _manager.UpdateAsync(default);
        _probe.Answer(ProxyStatus.HEALTHY);
        Register(draining: true);
        await _manager.UpdateAsync(default);
        Assert.Equal(ProxyStatus.DRAINING, _manager.StatusOf(_proxy)); // a healthy answer from before the drain counts as draining

        _probe.Answer(ProxyStatus.DRAINING);
        await _manager.UpdateAsync(default);
        Assert.Equal(ProxyStatus.DRAINING, _manager.StatusOf(_proxy));

        _probe.Answer(ProxyStatus.DRAINED);
        await _manager.UpdateAsync(default);
        Assert.Equal(ProxyStatus.DRAINED, _manager.StatusOf(_proxy));

        _probe.Answer(ProxyStatus.HEALTHY);
        await _manager.UpdateAsync(default);
        Assert.Equal(ProxyStatus.DRAINED, _manager.StatusOf(_proxy));
    }

    [Fact]
    public async Task AProxyWhoseHeartbeatExpired_IsUnhealthy_AndANewIncarnationStartsOver()
    {
        await _manager.UpdateAsync(default);
        _probe.Answer(ProxyStatus.HEALTHY);
        await _manager.UpdateAsync(default);
        Register(alive: false);
        await _manager.UpdateAsync(default);
        Assert.Equal(ProxyStatus.UNHEALTHY, _manager.StatusOf(_proxy));

        _proxy = _proxy with { InstanceId = "p-i2" };
        _store.Proxies[0] = (_proxy, true);
        await _manager.UpdateAsync(default);
        Assert.Equal(ProxyStatus.STARTING, _manager.StatusOf(_proxy));
    }

    [Fact]
    public void BeforeAnyCheck_TheStatusShownFollowsTheRegistration()
    {
        Assert.Equal(ProxyStatus.UNHEALTHY, _manager.StatusFor(_proxy, alive: false));
        Assert.Equal(ProxyStatus.STARTING, _manager.StatusFor(_proxy, alive: true));
        Assert.Equal(ProxyStatus.DRAINING, _manager.StatusFor(_proxy with { Draining = true }, alive: true));
    }

    [Theory]
    [InlineData(ProxyStatus.DRAINING, ProxyStatus.HEALTHY, false)]
    [InlineData(ProxyStatus.DRAINED, ProxyStatus.DRAINING, false)]
    [InlineData(ProxyStatus.HEALTHY, ProxyStatus.DRAINED, false)]
    [InlineData(ProxyStatus.DRAINING, ProxyStatus.DRAINED, true)]
    [InlineData(ProxyStatus.DRAINED, ProxyStatus.UNHEALTHY, true)]
    [InlineData(ProxyStatus.UNHEALTHY, ProxyStatus.HEALTHY, true)]
    public void Transitions(ProxyStatus from, ProxyStatus to, bool legal) => Assert.Equal(legal, ProxyState.IsLegal(from, to));
}
