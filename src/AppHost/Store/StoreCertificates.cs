using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ServeAspire.AppHost.Store;

/// <summary>
/// The local TLS mode's CA and redis-server certificate, made with .NET's CertificateRequest in the state folder
/// (keys mode 600). Kept across runs while valid for another week, so clients that trusted the CA still do.
/// The server certificate names 127.0.0.1 and localhost: the services connect to 127.0.0.1 and validate it.
/// </summary>
internal static class StoreCertificates
{
    public sealed record Files(string CaCert, string ServerCert, string ServerKey);

    public static string CaPath(string dir) => Path.Combine(dir, "ca.crt");

    public static Files Ensure(string dir)
    {
        var files = new Files(CaPath(dir), Path.Combine(dir, "redis.crt"), Path.Combine(dir, "redis.key"));
        if (StillValid(files)) return files;
        Directory.CreateDirectory(dir);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var now = DateTimeOffset.UtcNow;

        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=ServeAspire local store CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        using var ca = caRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(1));

        using var serverKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", serverKey, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false)); // serverAuth
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using var server = request.Create(ca, now.AddMinutes(-5), now.AddDays(90), serial);

        // Keys first, created private; the CA's key is not kept: nothing else is ever signed with it.
        WritePrivate(files.ServerKey, serverKey.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(files.ServerCert, server.ExportCertificatePem());
        File.WriteAllText(files.CaCert, ca.ExportCertificatePem());
        return files;
    }

    private static bool StillValid(Files f)
    {
        if (!File.Exists(f.CaCert) || !File.Exists(f.ServerCert) || !File.Exists(f.ServerKey)) return false;
        try
        {
            using var ca = X509Certificate2.CreateFromPem(File.ReadAllText(f.CaCert));
            using var server = X509Certificate2.CreateFromPemFile(f.ServerCert, f.ServerKey);
            var soon = DateTime.Now.AddDays(7);
            return ca.NotAfter > soon && server.NotAfter > soon && server.Issuer == ca.Subject;
        }
        catch (CryptographicException) { return false; }
    }

    private static void WritePrivate(string path, string text)
    {
        if (OperatingSystem.IsWindows())
        {
            File.WriteAllText(path, text);
            return;
        }
        if (File.Exists(path)) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        using var stream = new FileStream(path, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite });
        stream.Write(System.Text.Encoding.ASCII.GetBytes(text));
    }
}
