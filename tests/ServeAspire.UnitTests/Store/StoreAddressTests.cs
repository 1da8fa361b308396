using Microsoft.Extensions.Configuration;
using ServeAspire.Store;
using StackExchange.Redis;

namespace ServeAspire.UnitTests.Store;

public sealed class StoreAddressTests
{
    private const string Secret = "s3cr%40t,pw"; // "s3cr@t,pw" once decoded: an '@' and a ',' (which a connection string could not hold)
    private const string Decoded = "s3cr@t,pw";

    [Theory]
    [InlineData("redis://127.0.0.1:6379", "127.0.0.1:6379,abortConnect=false")]
    [InlineData("redis://redis.prod", "redis.prod:6379,abortConnect=false")]
    [InlineData("REDIS://h:7000/3", "h:7000,defaultDatabase=3,abortConnect=false")]
    [InlineData("redis://h:7000/", "h:7000,abortConnect=false")]
    [InlineData("redis://[::1]:6380/0", "[::1]:6380,defaultDatabase=0,abortConnect=false")]
    [InlineData("rediss://cache.example.com:6380/1", "cache.example.com:6380,defaultDatabase=1,ssl=true,sslHost=cache.example.com,abortConnect=false")]
    [InlineData("rediss://[::1]", "[::1]:6379,ssl=true,sslHost=::1,abortConnect=false")]
    [InlineData("sentinel://s1:26379,s2:26380/mymaster", "s1:26379,s2:26380,serviceName=mymaster,abortConnect=false")]
    [InlineData("sentinel://s1,s2/mymaster/2", "s1:26379,s2:26379,serviceName=mymaster,defaultDatabase=2,abortConnect=false")]
    [InlineData("127.0.0.1:6379,password=x,abortConnect=false", "127.0.0.1:6379,password=x,abortConnect=false")]
    [InlineData("s1:26379,serviceName=mymaster", "s1:26379,serviceName=mymaster")]
    public void EveryForm_BecomesAConnectionStringWithoutSecrets(string input, string expected) =>
        Assert.Equal(expected, StoreAddress.Parse(input).ToPublicConnectionString());

    [Fact]
    public void RedisUrl_UserPasswordAndDatabase_ReachTheOptions()
    {
        var a = StoreAddress.Parse($"redis://serve:{Secret}@10.0.0.5:6390/4");
        Assert.Equal((StoreAddress.Form.Redis, "serve", Decoded, 4, false), (a.Kind, a.User, a.Password, a.Database, a.Tls));
        var o = a.ToOptions();
        Assert.Equal("serve", o.User);
        Assert.Equal(Decoded, o.Password);
        Assert.Equal(4, o.DefaultDatabase);
        Assert.False(o.Ssl);
        Assert.False(o.AbortOnConnectFail);
        Assert.Equal("10.0.0.5:6390", Assert.Single(o.EndPoints).ToString());
        Assert.False(a.HasReplicas);
    }

    [Fact]
    public void PasswordOnly_LeavesTheDefaultUser()
    {
        var a = StoreAddress.Parse($"rediss://:{Secret}@h");
        Assert.Null(a.User);
        Assert.Equal(Decoded, a.Password);
        var o = a.ToOptions();
        Assert.True(o.Ssl);
        Assert.Equal("h", o.SslHost);
        Assert.Null(o.User);
    }

    [Fact]
    public void Sentinel_FollowsTheServiceAndSaysItHasReplicas()
    {
        var a = StoreAddress.Parse($"sentinel://:{Secret}@s1,s2:26380,s3/serve");
        Assert.True(a.HasReplicas);
        var o = a.ToOptions();
        Assert.Equal("serve", o.ServiceName);
        Assert.Equal(Decoded, o.Password);
        Assert.Equal(3, o.EndPoints.Count);
    }

    public static TheoryData<string, string> Malformed => new()
    {
        { "", "is empty" },
        { "http://h:6379", "unknown scheme 'http://'" },
        { $"redis://{Secret}@h", "has no ':'" },
        { "redis://user:@h", "password after ':' is empty" },
        { $"redis://u:{Secret}@", "no host" },
        { $"redis://u:{Secret}@h:0", "port '0' of host 'h'" },
        { $"redis://u:{Secret}@h:70000", "port '70000'" },
        { $"redis://u:{Secret}@h:abc/0", "port 'abc'" },
        { $"redis://u:{Secret}@h:6379/x", "database 'x'" },
        { $"redis://u:{Secret}@h:6379/-1", "database '-1'" },
        { $"redis://u:{Secret}@h:6379/0/1", "unexpected path '/1'" },
        { $"redis://u:{Secret}@h1,h2", "takes one host" },
        { $"rediss://u:{Secret}@h?ssl=false", "query or fragment '?ssl=false'" },
        { $"redis://u:{Secret}@::1:6379", "in brackets" },
        { $"redis://u:{Secret}@[::1", "must end with ']'" },
        { $"redis://u:{Secret}@h,/0", "takes one host" },
        { $"sentinel://:{Secret}@s1:26379", "must name its service" },
        { $"sentinel://:{Secret}@s1:26379/", "must name its service" },
        { $"sentinel://:{Secret}@s1,,s2/m", "empty host" },
        { $"sentinel://:{Secret}@s1/m/x", "database 'x'" },
        { $"sentinel://:{Secret}@s1/m/0/1", "unexpected path '/1'" },
        { "redis://u:%zz@h", "password is not valid percent-encoding" },
        { $"127.0.0.1:6379,password={Decoded[..6]},connectTimeout=soon", "not a valid StackExchange.Redis connection string" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_NamesThePart_NeverThePassword(string input, string part)
    {
        var ex = Assert.Throws<FormatException>(() => StoreAddress.Parse(input));
        Assert.Contains(part, ex.Message);
        Assert.DoesNotContain("s3cr", ex.Message);
        Assert.DoesNotContain("%zz", ex.Message);
    }

    [Theory]
    [InlineData($"redis://u:{Secret}@h:6379/0", "redis://u:***@h:6379/0")]
    [InlineData($"sentinel://:{Secret}@s1,s2/m", "sentinel://:***@s1,s2/m")]
    [InlineData($"redis://{Secret}@h", "redis://:***@h")]
    [InlineData("h:6379,password=s3cr@t,ssl=true", "h:6379,password=***,ssl=true")]
    [InlineData("h:6379", "h:6379")]
    [InlineData("h:6379,password=a://b@c", "h:6379,password=***")]
    public void Redact_HidesThePassword(string input, string expected) => Assert.Equal(expected, StoreAddress.Redact(input));

    [Fact]
    public void ToString_NeverCarriesThePassword()
    {
        Assert.Equal("redis://u:***@h:6379/0", StoreAddress.Parse($"redis://u:{Secret}@h/0").ToString());
        Assert.Equal("h:1,password=***", StoreAddress.Parse("h:1,password=s3cr").ToString());
    }

    [Fact]
    public void Prepare_RewritesTheConfigWithoutSecrets_AndTheCallbackAddsThem()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [StoreAddress.ConfigKey] = $"redis://serve:{Secret}@h:6390/2" }).Build();
        var (address, configure) = StoreAddress.Prepare(config);
        Assert.Equal("h:6390,defaultDatabase=2,abortConnect=false", config[StoreAddress.ConfigKey]);
        Assert.DoesNotContain("s3cr", config[StoreAddress.ConfigKey]);
        var o = ConfigurationOptions.Parse(config[StoreAddress.ConfigKey]!);
        configure(o);
        Assert.Equal(("serve", Decoded, 2), (o.User, o.Password, o.DefaultDatabase));
        Assert.Equal(StoreAddress.Form.Redis, address.Kind);
    }

    [Fact]
    public void Prepare_AMissingCaFile_IsAnErrorNamingThePath()
    {
        var path = Path.Combine(Path.GetTempPath(), "no-such-dir-" + Guid.NewGuid().ToString("N"), "ca.crt");
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            [StoreAddress.ConfigKey] = $"rediss://:{Secret}@h:6380", [StoreAddress.CaFileKey] = path,
        }).Build();
        var ex = Assert.Throws<FileNotFoundException>(() => StoreAddress.Prepare(config));
        Assert.Contains(path, ex.Message);
        Assert.Contains("Store:CaFile", ex.Message);
        Assert.DoesNotContain("s3cr", ex.Message);
    }

    [Fact]
    public void CaFile_ACertificateLoads_AnythingElseIsAnErrorNamingThePath()
    {
        using var ca = TestCertificates.CreateCa();
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, ca.ExportCertificatePem());
            var o = StoreAddress.Parse("rediss://h:6380").ToOptions(file);
            Assert.True(o.Ssl);
            File.WriteAllText(file, "not a certificate");
            var ex = Assert.Throws<InvalidDataException>(() => StoreAddress.Parse("rediss://h:6380").ToOptions(file));
            Assert.Contains(file, ex.Message);
        }
        finally { File.Delete(file); }
    }
}

internal static class TestCertificates
{
    public static System.Security.Cryptography.X509Certificates.X509Certificate2 CreateCa()
    {
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=test ca", key, System.Security.Cryptography.HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new System.Security.Cryptography.X509Certificates.X509BasicConstraintsExtension(true, false, 0, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddDays(1));
    }
}
