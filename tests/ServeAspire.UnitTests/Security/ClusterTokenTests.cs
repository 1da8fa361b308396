using Microsoft.Extensions.Configuration;
using ServeAspire.Security;

namespace ServeAspire.UnitTests.Security;

public sealed class ClusterTokenTests
{
    private static IConfiguration Config(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    [Fact]
    public void FromConfiguration_NoToken_RefusesToStart_NamingWhereItLooked()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => ClusterToken.FromConfiguration(Config()));
        Assert.Contains("no cluster token was found", ex.Message);
        Assert.Contains("SERVE_AUTH_TOKEN", ex.Message);
    }

    [Fact]
    public void FromConfiguration_DisabledOnlyWhenSaidSo_AndUnknownModesAreRefused()
    {
        Assert.True(ClusterToken.FromConfiguration(Config(("Serve:AuthMode", "disabled"))).Disabled);
        Assert.Contains("must be 'token'", Assert.Throws<InvalidOperationException>(() => ClusterToken.FromConfiguration(Config(("Serve:AuthMode", "off")))).Message);
    }

    [Fact]
    public void FromConfiguration_ReadsTheVariable_ThenTheFile()
    {
        Assert.Equal("0123456789abcdefXYZ", ClusterToken.FromConfiguration(Config(("SERVE_AUTH_TOKEN", " 0123456789abcdefXYZ\n"))).Value);
        var file = Path.GetTempFileName();
        try
        {
            ClusterToken.WriteFile(file, "from-a-file-0123456789");
            Assert.Equal("from-a-file-0123456789", ClusterToken.FromConfiguration(Config(("SERVE_AUTH_TOKEN_PATH", file))).Value);
            if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void Of_ShortTokens_AreRefused() =>
        Assert.Contains("16 to 1024 characters", Assert.Throws<InvalidOperationException>(() => ClusterToken.Of("short")).Message);

    [Fact]
    public void Matches_OnlyTheExactToken()
    {
        var token = ClusterToken.Of(ClusterToken.Generate());
        Assert.True(token.Matches(token.Value!));
        Assert.False(token.Matches(token.Value! + "x"));
        Assert.False(token.Matches(token.Value.AsSpan(0, token.Value!.Length - 1)));
        Assert.False(token.Matches(""));
        Assert.False(token.Matches(new string('a', 100_000)));
        Assert.True(ClusterToken.DisabledToken.Matches("anything"));
    }

    [Fact]
    public void LeaderTokens_RefuseAnOlderToken_AfterANewerOne()
    {
        var fencing = new LeaderTokens();
        Assert.Null(fencing.Admit("5"));
        Assert.Null(fencing.Admit("5"));
        Assert.Null(fencing.Admit("7"));
        Assert.Contains("older than 7", fencing.Admit("5"));
        Assert.Contains("missing or malformed", fencing.Admit(null));
        Assert.Contains("missing or malformed", fencing.Admit("-1"));
        Assert.Equal(7, fencing.Newest);
    }

    [Fact]
    public void LeaderTokens_LearnANewerTokenFromAReadWithoutRefusingOlderReads()
    {
        var fencing = new LeaderTokens();
        fencing.Observe("9");
        fencing.Observe("3");
        fencing.Observe("garbage");
        Assert.Equal(9, fencing.Newest);
        Assert.Contains("older than 9", fencing.Admit("8"));
    }
}
