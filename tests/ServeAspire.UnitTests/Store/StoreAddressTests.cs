using ServeAspire.Store;

namespace ServeAspire.UnitTests.Store;

public sealed class StoreAddressTests
{
    [Theory]
    [InlineData("127.0.0.1:6379,password=x,abortConnect=false", "127.0.0.1:6379,password=x,abortConnect=false")]
    [InlineData("s1:26379,serviceName=mymaster", "s1:26379,serviceName=mymaster")]
    [InlineData("sentinel://s1:26379,s2:26380/mymaster", "s1:26379,s2:26380,serviceName=mymaster,abortConnect=false")]
    [InlineData("sentinel://:p%40ss@s1,s2:26380/mymaster", "s1:26379,s2:26380,serviceName=mymaster,password=p@ss,abortConnect=false")]
    public void Normalize_TurnsSentinelUrlsIntoStackExchangeRedisForm(string input, string expected) =>
        Assert.Equal(expected, StoreAddress.Normalize(input));

    [Theory]
    [InlineData("sentinel://s1:26379")]
    [InlineData("sentinel://s1:26379/")]
    public void Normalize_RejectsASentinelUrlWithoutService(string input)
    {
        var ex = Assert.Throws<FormatException>(() => StoreAddress.Normalize(input));
        Assert.Contains("must name its service", ex.Message);
    }
}
