using System.Net;
using ServeAspire.ReplicaHost.Nodes;

namespace ServeAspire.UnitTests.Nodes;

/// <summary>A wildcard is where a process listens, never where another one calls it.</summary>
public sealed class AdvertisedAddressTests
{
    [Theory]
    [InlineData("http://0.0.0.0:8080", "node-3.internal", "http://node-3.internal:8080")]
    [InlineData("http://[::]:41234", "10.1.2.3", "http://10.1.2.3:41234")]
    [InlineData("http://127.0.0.1:41234", "10.1.2.3", "http://127.0.0.1:41234")]
    [InlineData("http://10.0.0.7:8080", null, "http://10.0.0.7:8080")]
    public void AWildcard_BecomesTheAdvertisedHost_AnythingElseStays(string bound, string? advertised, string expected) =>
        Assert.Equal(expected, AdvertisedAddress.Resolve(bound, advertised));

    [Fact]
    public void WithoutAnAdvertisedHost_AWildcardBecomesThisMachinesNonLoopbackAddress()
    {
        var resolved = new Uri(AdvertisedAddress.Resolve("http://0.0.0.0:8080", null));
        Assert.Equal(8080, resolved.Port);
        Assert.True(IPAddress.TryParse(resolved.Host, out var ip), resolved.Host);
        Assert.False(IPAddress.IsLoopback(ip));
        Assert.NotEqual(IPAddress.Any, ip);
    }
}
