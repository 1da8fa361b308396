using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ServeAspire.Controller.Checkpoints;
using ServeAspire.Controller.Leadership;
using ServeAspire.Model;
using ServeAspire.Store;
using StackExchange.Redis;

namespace ServeAspire.UnitTests.Checkpoints;

/// <summary>The lease and fencing scripts against a real redis-server (started here on a free port, ended by PID).</summary>
public sealed class RedisClusterStoreTests : IAsyncLifetime
{
    private Process? _redis;
    private ConnectionMultiplexer? _mux;
    private RedisClusterStore _store = null!;
    // Long enough that a loaded 2-core machine never lets it lapse between two calls that assert who holds it.
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(2);
    private readonly Microsoft.Extensions.Time.Testing.FakeTimeProvider _clock = new(DateTimeOffset.UnixEpoch.AddDays(20000));

    public async Task InitializeAsync()
    {
        var port = FreePort();
        _redis = Process.Start(new ProcessStartInfo("redis-server", ["--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        {
            RedirectStandardOutput = true,
        })!;
        var deadline = Stopwatch.StartNew();
        while (_mux is null)
        {
            try { _mux = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{port},connectTimeout=500"); }
            catch (RedisConnectionException) when (deadline.Elapsed < TimeSpan.FromSeconds(10)) { await Task.Delay(50); }
        }
        _store = new RedisClusterStore(_mux, new StoreKeys("unit"), _clock);
    }

    public async Task DisposeAsync()
    {
        if (_mux is not null) await _mux.DisposeAsync();
        if (_redis is { HasExited: false }) _redis.Kill();
        _redis?.Dispose();
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private async Task WaitForLeaseToExpireAsync()
    {
        var sw = Stopwatch.StartNew();
        while (await _store.GetLeaseAsync(default) is not null)
        {
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), "lease never expired");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task OnlyOneHolder_AndEachTenureGetsANewerToken()
    {
        var a = await _store.AcquireLeaseAsync("a", "http://a", Ttl, default);
        Assert.True(a > 0);
        Assert.Equal(-1, await _store.AcquireLeaseAsync("b", "http://b", Ttl, default));
        Assert.Equal(a, await _store.AcquireLeaseAsync("a", "http://a", Ttl, default)); // re-acquire = extend
        var lease = await _store.GetLeaseAsync(default);
        Assert.Equal(new LeaseRecord("a", "http://a", a), lease?.Record);
        Assert.InRange(lease!.Remaining!.Value, TimeSpan.FromMilliseconds(1), Ttl); // its PTTL: what a standby wakes on

        await WaitForLeaseToExpireAsync();
        var b = await _store.AcquireLeaseAsync("b", "http://b", Ttl, default);
        Assert.True(b > a);
        Assert.False(await _store.RenewLeaseAsync("a", a, Ttl, default)); // the old holder cannot renew
        Assert.True(await _store.RenewLeaseAsync("b", b, Ttl, default));
    }

    [Fact]
    public async Task DeposedLeadersWrites_AreRejectedByTheFencingToken()
    {
        var a = await _store.AcquireLeaseAsync("a", "http://a", Ttl, default);
        await _store.SaveConfigAsync("from a", a, default);
        await WaitForLeaseToExpireAsync();
        var b = await _store.AcquireLeaseAsync("b", "http://b", Ttl, default);
        await _store.SaveConfigAsync("from b", b, default);

        await Assert.ThrowsAsync<FencedException>(() => _store.SaveConfigAsync("stale a", a, default));
        await Assert.ThrowsAsync<FencedException>(() => _store.SaveStateAsync("stale a", a, default));
        await Assert.ThrowsAsync<FencedException>(() => _store.PublishRoutesAsync(new RoutingTable(99, null, []), [], a, default));
        Assert.Equal("from b", await _store.LoadConfigAsync(default));
        Assert.Null(await _store.LoadRoutesAsync(default));
        Assert.False(await _store.IsTokenCurrentAsync(a, default));
        Assert.True(await _store.IsTokenCurrentAsync(b, default));
    }

    [Fact]
    public async Task Release_HandsOverAtOnce_ButOnlyByTheHolder()
    {
        var a = await _store.AcquireLeaseAsync("a", "http://a", TimeSpan.FromMinutes(1), default);
        await _store.ReleaseLeaseAsync("b", default);
        Assert.Equal(-1, await _store.AcquireLeaseAsync("b", "http://b", Ttl, default));
        await _store.ReleaseLeaseAsync("a", default);
        Assert.True(await _store.AcquireLeaseAsync("b", "http://b", Ttl, default) > a);
    }

    [Fact]
    public async Task ForgetRegistration_RemovesADeadOne_ButNotOneWhoseHeartbeatIsBack()
    {
        var keys = new StoreKeys("unit");
        var db = _mux!.GetDatabase();
        foreach (var id in new[] { "node-a", "node-b" })
            await db.HashSetAsync(keys.Nodes, id, System.Text.Json.JsonSerializer.Serialize(new NodeRegistration(id, id + "-i", "http://x", 1, DateTimeOffset.UnixEpoch), SerializerOptions.Default));
        await db.StringSetAsync(keys.NodeHeartbeat("node-b"), "node-b-i");

        await _store.ForgetRegistrationAsync("node", "node-a", default);
        await _store.ForgetRegistrationAsync("node", "node-b", default);

        var left = await _store.GetNodesAsync(default);
        var (registration, alive) = Assert.Single(left);
        Assert.Equal("node-b", registration.NodeId);
        Assert.True(alive);
    }

    [Fact]
    public async Task AfterRedisLostItsData_TheNextTenuresTokenIsStillNewerThanAnyBefore()
    {
        var first = await _store.AcquireLeaseAsync("a", "http://a", Ttl, default);
        var keys = new StoreKeys("unit");
        await _mux!.GetDatabase().KeyDeleteAsync([keys.FencingCounter, keys.LeaderLease]); // Redis lost them
        _clock.Advance(TimeSpan.FromSeconds(1));
        var second = await _store.AcquireLeaseAsync("b", "http://b", Ttl, default);
        Assert.True(second > first, $"token {second} after the data loss, {first} before");
    }
}
