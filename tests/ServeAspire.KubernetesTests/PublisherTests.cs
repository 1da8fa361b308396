namespace ServeAspire.KubernetesTests;

/// <summary>The tests publish with the AppHost built alongside them, not whichever one happens to be on disk.</summary>
public sealed class PublisherTests
{
    [Fact]
    public void AppHostDll_IsTheOneBuiltWithTheTestsOwnConfiguration()
    {
        // The tests' own output folder is bin/<Configuration>/<tfm>/: the attribute and the path must agree.
        var ownDir = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory));
        Assert.Equal("bin", ownDir.Parent!.Parent!.Name);
        Assert.Equal(ownDir.Parent.Name, Publisher.Configuration);

        var appHostDir = new DirectoryInfo(Path.GetDirectoryName(Publisher.AppHostDll)!);
        Assert.Equal((ownDir.Parent.Name, ownDir.Name), (appHostDir.Parent!.Name, appHostDir.Name));
        Assert.True(File.Exists(Publisher.AppHostDll), $"{Publisher.AppHostDll} is missing");
    }
}
