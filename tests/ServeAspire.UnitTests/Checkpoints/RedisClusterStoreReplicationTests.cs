using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using ServeAspire.Controller.Checkpoints;
using ServeAspire.Store;
using StackExchange.Redis;

namespace ServeAspire.UnitTests.Checkpoints;

/// <summary>
/// The lease, the fencing counter and the config wait for a replica (WAIT): against a real primary and replica
/// (redis-server, started here on free ports, ended by PID). A replica that stops acknowledging (SIGSTOP, as a
/// lagging one would) makes those writes fail instead of counting as done.
/// </summary>
public sealed class RedisClusterStoreReplicationTests : IAsyncLifetime
{
    private Process? _primary, _replica;
    private ConnectionMultiplexer? _mux, _replicaMux;
    private RedisClusterStore _store = null!;
    private readonly StoreKeys _keys = new("unit");
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(5);

    public async Task InitializeAsync()
    {
        // xUnit does not call DisposeAsync when this throws: end the processes here then.
        try { await StartAsync(); }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    private async Task StartAsync()
    {
        var primaryPort = FreePort();
        var replicaPort = FreePort();
        _primary = Start("--port", Str(primaryPort));
        _replica = Start("--port", Str(replicaPort), "--replicaof", "127.0.0.1", Str(primaryPort));
        _mux = await ConnectAsync(primaryPort);
        _replicaMux = await ConnectAsync(replicaPort);
        var deadline = Stopwatch.StartNew();
        while (!(await _replicaMux.GetServer($"127.0.0.1:{replicaPort}").InfoRawAsync("replication"))!.Contains("master_link_status:up"))
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(10), "the replica never linked to the primary");
            await Task.Delay(50);
        }
        _store = new RedisClusterStore(_mux, _keys, TimeProvider.System, new StoreDurability(1, TimeSpan.FromMilliseconds(200)));
    }

    private static string Str(int n) => n.ToString(CultureInfo.InvariantCulture);

    private static Process Start(params string[] args) =>
        Process.Start(new ProcessStartInfo("redis-server", [.. args, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]) { RedirectStandardOutput = true })!;

    private static async Task<ConnectionMultiplexer> ConnectAsync(int port)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try { return await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{port},connectTimeout=500,allowAdmin=true"); }
            catch (RedisConnectionException) when (deadline.Elapsed < TimeSpan.FromSeconds(10)) { await Task.Delay(50); }
        }
    }

    public async Task DisposeAsync()
    {
        Signal("CONT", _replica);
        if (_mux is not null) await _mux.DisposeAsync();
        if (_replicaMux is not null) await _replicaMux.DisposeAsync();
        foreach (var p in new[] { _primary, _replica })
        {
            if (p is { HasExited: false }) { p.Kill(); await p.WaitForExitAsync(); }
            p?.Dispose();
        }
    }

    private static void Signal(string signal, Process? p)
    {
        if (p is null || p.HasExited) return;
        using var kill = Process.Start("kill", [$"-{signal}", Str(p.Id)])!;
        kill.WaitForExit();
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    [Fact]
    public async Task AnAcknowledgedTenure_IsOnTheReplicaWhenAcquireReturns()
    {
        var token = await _store.AcquireLeaseAsync("a", "http://a", Ttl, default);
        Assert.True(token > 0);
        // No waiting here: WAIT already had the replica acknowledge the counter and the lease.
        Assert.Equal(token, (long)await _replicaMux!.GetDatabase().StringGetAsync(_keys.FencingCounter));
        Assert.True(await _replicaMux.GetDatabase().KeyExistsAsync(_keys.LeaderLease));
        Assert.True(await _store.RenewLeaseAsync("a", token, Ttl, default));
    }

    [Fact]
    public async Task AReplicaThatDoesNotAcknowledge_FailsAcquireRenewAndConfig_AndTheSameTenureCompletesOnceItDoes()
    {
        var first = await _store.AcquireLeaseAsync("a", "http://a", Ttl, default);
        Signal("STOP", _replica);
        try
        {
            var ex = await Assert.ThrowsAsync<ReplicaAckTimeoutException>(() => _store.RenewLeaseAsync("a", first, Ttl, default));
            Assert.Equal(0, ex.Acked);
            await Assert.ThrowsAsync<ReplicaAckTimeoutException>(() => _store.SaveConfigAsync("{}", first, default));
            await _store.ReleaseLeaseAsync("a", default);
            // A new tenure: the counter moves on the primary, but the caller is told it is not acknowledged.
            var sw = Stopwatch.StartNew();
            await Assert.ThrowsAsync<ReplicaAckTimeoutException>(() => _store.AcquireLeaseAsync("b", "http://b", Ttl, default));
            Assert.InRange(sw.Elapsed, TimeSpan.FromMilliseconds(150), TimeSpan.FromSeconds(5)); // it did wait for the timeout
        }
        finally { Signal("CONT", _replica); }
        // Once the replica acknowledges, the same holder's next round completes the same tenure (no second token).
        var second = await _store.AcquireLeaseAsync("b", "http://b", Ttl, default);
        Assert.True(second > first);
        Assert.Equal(second, await _store.CurrentTokenAsync(default));
        Assert.Equal(second, (long)await _replicaMux!.GetDatabase().StringGetAsync(_keys.FencingCounter));
    }
}

/// <summary>Store:ReplicaAcks and Store:ReplicaAckTimeout, read from configuration.</summary>
public sealed class StoreDurabilityTests
{
    [Theory]
    [InlineData("sentinel://s1/serve", null, 1)]
    [InlineData("redis://h:6379", null, 0)]
    [InlineData("h:6379,password=x", null, 0)]
    [InlineData("redis://h:6379", "2", 2)]
    [InlineData("sentinel://s1/serve", "0", 0)]
    public void ReplicaAcks_DefaultsToOneForSentinelAndNoneForASingleRedis(string address, string? setting, int expected)
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [StoreDurability.ReplicasKey] = setting }).Build();
        Assert.Equal(expected, StoreDurability.From(config, StoreAddress.Parse(address)).Replicas);
    }

    [Theory]
    [InlineData(StoreDurability.ReplicasKey, "-1")]
    [InlineData(StoreDurability.ReplicasKey, "many")]
    [InlineData(StoreDurability.TimeoutKey, "00:01:00")]
    [InlineData(StoreDurability.TimeoutKey, "soon")]
    public void ABadDurabilitySetting_IsRefusedByName(string key, string value)
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [key] = value }).Build();
        var ex = Assert.Throws<FormatException>(() => StoreDurability.From(config, StoreAddress.Parse("sentinel://s1/serve")));
        Assert.Contains(key, ex.Message);
    }
}
