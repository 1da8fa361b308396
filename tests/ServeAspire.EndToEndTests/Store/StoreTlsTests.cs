using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using ServeAspire.EndToEndTests.Infrastructure;
using Xunit.Abstractions;
using static ServeAspire.EndToEndTests.Failures.FailureScenario;

namespace ServeAspire.EndToEndTests.Store;

/// <summary>Serve:Store=tls: redis-server with only a TLS port, a generated CA and certificate, every service over rediss://.</summary>
public sealed class StoreTlsTests(ITestOutputHelper output)
{
    [Fact]
    public async Task TlsStore_EveryServiceRunsOverTls_PlaintextIsRefused_TheCertificateIsValidated_KeysArePrivate()
    {
        await using var app = await ServeApp.StartAsync(["Serve:Store=tls"]);
        var replicas = await RunningAsync(app, 6);
        // The control plane wrote and read through TLS: a config PUT and a scale change reach the replicas.
        var (status, body) = await app.PutConfigAsync(Config(sleepyReplicas: 4));
        Assert.True(status == 200, body);
        await ServeApp.WaitUntilAsync(() => app.ReplicasAsync(), r => r.Count == 4 && r.All(x => x.State == "RUNNING"), TimeSpan.FromSeconds(60), "scaled to 4");
        // Proxies read the new routing table from the store over TLS and serve.
        var version = await ServeApp.WaitUntilAsync(() => app.ProxyRoutingVersionAsync(0), v => v > 0, TimeSpan.FromSeconds(10), "proxy-0 routing");
        Assert.NotNull(await app.PidThroughProxyAsync(0));
        Assert.NotNull(await app.PidThroughProxyAsync(1));

        // Every service was given a rediss:// address and the CA, never a plaintext one.
        var controllerPid = (await app.ControllerStatusAsync(0))!["pid"]!.GetValue<int>();
        var environ = (await File.ReadAllTextAsync($"/proc/{controllerPid}/environ")).Split('\0');
        Assert.Contains(environ, e => e.StartsWith("ConnectionStrings__redis=rediss://", StringComparison.Ordinal));
        Assert.Contains(environ, e => e == $"Store__CaFile={Path.Combine(app.StateDir, "tls", "ca.crt")}");

        // The port speaks only TLS: a plaintext PING gets no PONG.
        Assert.False(await PlaintextPingAnswersAsync(ServeApp.RedisPort), "redis answered a plaintext PING on its TLS port");
        // With the CA the certificate validates (PONG); without it (the system's roots only) the handshake fails.
        Assert.Equal("PONG", await app.RedisAsync("PING"));
        var withoutCa = await RedisCliAsync("--tls", "-p", ServeApp.RedisPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "PING");
        Assert.DoesNotContain("PONG", withoutCa);
        output.WriteLine($"without the CA redis-cli says: {withoutCa.Trim()}");

        // Secrets on disk are the owner's alone.
        Assert.True(OperatingSystem.IsLinux(), "these tests run on Linux");
        foreach (var file in new[] { Path.Combine("tls", "redis.key"), "redis.conf" })
            if (OperatingSystem.IsLinux()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(app.StateDir, file)));
        Assert.DoesNotContain("PRIVATE KEY", await File.ReadAllTextAsync(Path.Combine(app.StateDir, "tls", "ca.crt")));
        output.WriteLine($"TLS store: {replicas.Count} replicas RUNNING, scaled to 4, proxies on routing v{version}");
    }

    private static async Task<bool> PlaintextPingAnswersAsync(int port)
    {
        try
        {
            using var client = new TcpClient();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            await client.ConnectAsync("127.0.0.1", port, timeout.Token);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes("*1\r\n$4\r\nPING\r\n"), timeout.Token);
            var buffer = new byte[64];
            var n = await stream.ReadAsync(buffer, timeout.Token);
            return Encoding.ASCII.GetString(buffer, 0, n).Contains("PONG");
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException) { return false; }
    }

    private static async Task<string> RedisCliAsync(params string[] args)
    {
        var psi = new ProcessStartInfo("redis-cli") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return await stdout + await stderr;
    }
}
