using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ServeAspire.Store;
using StackExchange.Redis;

namespace ServeAspire.UnitTests.Store;

/// <summary>
/// rediss:// against a real redis-server with a TLS port only (certificates made here, process ended by PID):
/// the server's certificate is validated by default; Store:CaFile makes our CA trusted; a certificate for
/// another name is refused even when its CA is trusted.
/// </summary>
public sealed class StoreTlsValidationTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("serveaspire-tls-").FullName;
    private Process? _redis;
    private int _port;
    private string CaFile => Path.Combine(_dir, "ca.crt");

    public async Task InitializeAsync()
    {
        var now = DateTimeOffset.UtcNow;
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=unit ca", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using var ca = caRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var server = request.Create(ca, now.AddMinutes(-5), now.AddDays(1), [1, 2, 3, 4]);
        await File.WriteAllTextAsync(CaFile, ca.ExportCertificatePem());
        await File.WriteAllTextAsync(Path.Combine(_dir, "redis.crt"), server.ExportCertificatePem());
        await File.WriteAllTextAsync(Path.Combine(_dir, "redis.key"), key.ExportPkcs8PrivateKeyPem());

        using (var l = new TcpListener(IPAddress.Loopback, 0)) { l.Start(); _port = ((IPEndPoint)l.LocalEndpoint).Port; }
        _redis = Process.Start(new ProcessStartInfo("redis-server",
        [
            "--port", "0", "--tls-port", _port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--tls-cert-file", Path.Combine(_dir, "redis.crt"), "--tls-key-file", Path.Combine(_dir, "redis.key"), "--tls-ca-cert-file", CaFile,
            "--tls-auth-clients", "no", "--requirepass", "pw",
        ]) { RedirectStandardOutput = true })!;
        var deadline = Stopwatch.StartNew();
        while (!await ListensAsync())
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(10), "redis-server never listened");
            await Task.Delay(50);
        }
    }

    private async Task<bool> ListensAsync()
    {
        try
        {
            using var c = new TcpClient();
            await c.ConnectAsync(IPAddress.Loopback, _port);
            return true;
        }
        catch (SocketException) { return false; }
    }

    public async Task DisposeAsync()
    {
        if (_redis is { HasExited: false }) { _redis.Kill(); await _redis.WaitForExitAsync(); }
        _redis?.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<string?> PingAsync(string address, string? caFile)
    {
        var options = StoreAddress.Parse(address).ToOptions(caFile);
        options.ConnectTimeout = 2000;
        options.ConnectRetry = 1;
        await using var mux = await ConnectionMultiplexer.ConnectAsync(options);
        if (!mux.IsConnected) return null;
        return (await mux.GetDatabase().ExecuteAsync("PING")).ToString();
    }

    [Fact]
    public async Task WithTheCaFile_TheConnectionIsValidatedAndWorks() =>
        Assert.Equal("PONG", await PingAsync($"rediss://:pw@127.0.0.1:{_port}", CaFile));

    [Fact]
    public async Task WithoutTheCaFile_AnUnknownCaIsRefused() =>
        Assert.Null(await PingAsync($"rediss://:pw@127.0.0.1:{_port}", null));

    [Fact]
    public async Task ACertificateForAnotherName_IsRefusedEvenWithItsCaTrusted()
    {
        // The same server and CA, but the client expects another name than the certificate's.
        var options = StoreAddress.Parse($"rediss://:pw@127.0.0.1:{_port}").ToOptions(CaFile);
        options.SslHost = "redis.example.com";
        options.ConnectTimeout = 2000;
        await using var mux = await ConnectionMultiplexer.ConnectAsync(options);
        Assert.False(mux.IsConnected);
    }
}
