using ServeAspire.Runtime;

namespace ServeAspire.UnitTests.Runtime;

/// <summary>Code loading is confined: an import_path names an assembly, never a file, so it can only reach the probe folders.</summary>
public sealed class ImportPathTests
{
    private const string NotAPath = "the assembly part must be a plain assembly name (letters, digits, '.', '_' and '-', at most 128 characters), not a path";

    [Theory]
    [InlineData("/tmp/x:Y")]
    [InlineData("/etc/passwd:X")]
    [InlineData("../x:Y")]
    [InlineData("x/../../y:Y")]
    [InlineData("..:Y")]
    [InlineData("./Samples:SleepyPid")]
    [InlineData("..\\x:Y")]
    [InlineData("a\\b:Y")]
    [InlineData("dir/Samples:SleepyPid")]
    [InlineData("dir/Samples.SleepyPid")]
    [InlineData("~/x:Y")]
    [InlineData("-x:Y")]
    [InlineData("x.:Y")]
    [InlineData("Sam ples:Y")]
    [InlineData("Säm:Y")]
    public void PathInTheAssemblyPart_IsRefused(string importPath)
    {
        var error = ImportPath.FormatError(importPath);
        Assert.Equal($"import_path '{importPath}': {NotAPath}", error);
    }

    [Theory]
    [InlineData("C:\\x\\y:Type", "exactly one ':'")]
    [InlineData("file:///etc/x:Y", "exactly one ':'")]
    [InlineData("../x", "'<assembly>:<type>'")]
    [InlineData("Samples:Sleepy Pid", "the type part must be a .NET type name")]
    [InlineData("Samples:a/b", "the type part must be a .NET type name")]
    public void OtherMalformedPaths_AreRefused(string importPath, string message) =>
        Assert.Contains(message, ImportPath.FormatError(importPath));

    [Theory]
    [InlineData("Samples:SleepyPid")]
    [InlineData("Samples.SleepyPid")]
    [InlineData("ServeAspire.UnitTests:NamedDeployment")]
    [InlineData("My-Lib_2.Core:Ns.Outer+Inner")]
    public void PlainAssemblyName_IsAccepted(string importPath) => Assert.Null(ImportPath.FormatError(importPath));

    [Fact]
    public void OverlongImportPath_IsRefused_WithoutEchoingIt()
    {
        var error = ImportPath.FormatError("Samples:" + new string('T', 600));
        Assert.Equal("import_path must be at most 512 characters long (got 608 characters)", error);
    }

    [Fact]
    public void RealAssemblyOutsideTheProbeFolders_GetsTheSameAnswerAsNoFileAtAll()
    {
        var dir = Directory.CreateTempSubdirectory("serve-import-");
        try
        {
            var catalog = new DeploymentCatalog();
            var importPath = Path.Combine(dir.FullName, "Plugin") + ":SleepyPid";
            Assert.Null(catalog.Resolve(importPath, out var whenMissing));

            File.Copy(typeof(Samples.SleepyPid).Assembly.Location, Path.Combine(dir.FullName, "Plugin.dll"));
            Assert.Null(catalog.Resolve(importPath, out var whenPresent));

            Assert.Equal(whenMissing, whenPresent);
            Assert.Equal($"import_path '{importPath}': {NotAPath}", whenPresent);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void FrameworkAssemblyNotLoaded_IsNotLoadedByName()
    {
        // Before: Assembly.Load(name) reached any assembly the runtime could find.
        const string name = "Microsoft.VisualBasic.Core";
        Assert.DoesNotContain(AppDomain.CurrentDomain.GetAssemblies(), a => a.GetName().Name == name);
        Assert.Null(new DeploymentCatalog().Resolve($"{name}:Nope", out var error));
        Assert.Contains($"no assembly '{name}' found", error);
        Assert.DoesNotContain(AppDomain.CurrentDomain.GetAssemblies(), a => a.GetName().Name == name);
    }

    [Fact]
    public void AssemblyInTheAppFolder_StillResolves()
    {
        var info = new DeploymentCatalog().Resolve("Samples:SleepyPid", out var error);
        Assert.True(info is not null, error);
        Assert.Equal("SleepyPid", info.DeploymentName);
    }

    [Theory]
    [InlineData("/srv/deploy", "Samples", "/srv/deploy/Samples.dll")]
    [InlineData("/srv/deploy/", "Samples", "/srv/deploy/Samples.dll")]
    [InlineData("/srv/deploy", "../etc/x", null)]
    [InlineData("/srv/deploy", "/etc/passwd", null)]
    [InlineData("/srv/deploy", "a/b", null)]
    public void ProbePath_StaysDirectlyInsideTheFolder(string dir, string name, string? expected) =>
        Assert.Equal(expected, DeploymentCatalog.ProbePath(dir, name));
}
