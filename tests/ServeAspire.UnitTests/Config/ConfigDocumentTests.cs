using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ServeAspire.Config;
using ServeAspire.Controller.Checkpoints;
using ServeAspire.Model;
using ServeAspire.Runtime;

namespace ServeAspire.UnitTests.Config;

/// <summary>Parsing hostile text: every case must end in a ConfigError, never a throw, a hang or a blow-up.</summary>
public sealed class ConfigDocumentTests
{
    private static readonly int MaxDepth = ConfigLimits.Default.MaxDepth;

    private static ConfigError ParseError(string text, ConfigLimits? limits = null)
    {
        var node = ConfigDocument.Parse(text, limits ?? ConfigLimits.Default, out var error);
        Assert.Null(node);
        return Assert.IsType<ConfigError>(error);
    }

    private static JsonNode? ParseOk(string text, ConfigLimits? limits = null)
    {
        var node = ConfigDocument.Parse(text, limits ?? ConfigLimits.Default, out var error);
        Assert.True(error is null, error?.ToString());
        return node;
    }

    [Fact]
    public void SelfReferentialAlias_InSequence_IsRefused()
    {
        var e = ParseError("a: &x [*x]");
        Assert.Equal("a[0]", e.Loc);
        Assert.Contains("YAML alias '*x' refers to a node that contains it", e.Msg);
    }

    [Fact]
    public void SelfReferentialAlias_InMapping_IsRefused()
    {
        var e = ParseError("&a {b: *a}");
        Assert.Equal("b", e.Loc);
        Assert.Contains("YAML alias '*a' refers to a node that contains it", e.Msg);
    }

    [Fact]
    public void SelfReferentialAlias_DeepInside_NamesTheField()
    {
        var e = ParseError("applications:\n  - &app\n    name: a\n    args: { nested: [1, { again: *app }] }");
        Assert.Equal("applications[0].args.nested[1].again", e.Loc);
        Assert.Contains("'*app' refers to a node that contains it", e.Msg);
    }

    [Fact]
    public void AliasToEarlierAnchor_IsExpanded_AsACopy()
    {
        var node = ParseOk("base: &b { x: 1, list: [a, b] }\nother: *b\nagain: *b");
        Assert.Equal("""{"x":1,"list":["a","b"]}""", node!["other"]!.ToJsonString());
        Assert.Equal(node["base"]!.ToJsonString(), node["again"]!.ToJsonString());
        node["other"]!["x"] = 2; // copies, not shared nodes
        Assert.Equal(1, node["base"]!["x"]!.GetValue<long>());
    }

    [Fact]
    public void AliasToScalar_CanBeUsedAsKey()
    {
        var node = ParseOk("k: &k name\n*k : 1");
        Assert.Equal(1, node!["name"]!.GetValue<long>());
    }

    [Fact]
    public void UndefinedAlias_IsRefused_NamingTheField()
    {
        var e = ParseError("a:\n  b: *nope");
        Assert.Equal("a.b", e.Loc);
        Assert.Contains("YAML alias '*nope' refers to no anchor defined before it", e.Msg);
    }

    [Fact]
    public void BillionLaughs_IsRefusedQuickly_WithoutExpanding()
    {
        var sb = new StringBuilder("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for (var level = 1; level <= 9; level++)
            sb.Append($"l{level}: &l{level} [{string.Join(", ", Enumerable.Repeat($"*l{level - 1}", 10))}]\n");
        var stopwatch = Stopwatch.StartNew();
        var result = ConfigValidator.Validate(sb.ToString(), new DeploymentCatalog());
        stopwatch.Stop();

        var e = Assert.Single(result.Errors);
        Assert.Contains("would grow the config past 100000 values", e.Msg);
        Assert.Contains("each use of an alias counts as a full copy", e.Msg);
        Assert.StartsWith("l4[", e.Loc); // l4 would hold 111,111 values: refused while building it
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(1), $"took {stopwatch.Elapsed}");
    }

    [Fact]
    public void AliasesToALongString_AreRefused_PastTheExpandedLength()
    {
        var text = $"s: &s \"{new string('x', 100_000)}\"\nmany: [{string.Join(", ", Enumerable.Repeat("*s", 50))}]";
        var e = ParseError(text);
        Assert.StartsWith("many[", e.Loc);
        Assert.Contains($"past {ConfigLimits.Default.MaxExpandedLength} characters", e.Msg);
    }

    [Fact]
    public void DeepJsonNesting_IsRefused_NamingTheLimit()
    {
        var e = ParseError(new string('[', 10_000) + new string(']', 10_000));
        Assert.Contains($"more than {MaxDepth} levels deep", e.Msg);
        Assert.Equal(string.Concat(Enumerable.Repeat("[0]", MaxDepth)), e.Loc);
    }

    [Fact]
    public void DeepYamlFlowNesting_IsRefused_NamingTheLimit()
    {
        var e = ParseError("a: " + new string('[', 10_000) + new string(']', 10_000));
        Assert.Contains($"more than {MaxDepth} levels deep", e.Msg);
        Assert.Contains("(line 1, column", e.Msg);
        Assert.StartsWith("a[0][0]", e.Loc);
    }

    [Fact]
    public void UnclosedDeepYamlFlowNesting_IsRefused()
    {
        var e = ParseError("a: " + new string('[', 200_000));
        Assert.Contains("levels deep", e.Msg);
    }

    [Fact]
    public void DeepYamlBlockNesting_IsRefused()
    {
        var sb = new StringBuilder();
        for (var i = 0; i < 100; i++) sb.Append(new string(' ', i * 2)).Append("k:\n");
        var e = ParseError(sb.ToString());
        Assert.Contains($"more than {MaxDepth} levels deep", e.Msg);
        Assert.StartsWith("k.k.k", e.Loc);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void NestingAtTheLimit_IsAccepted_OneMoreIsNot(bool yaml)
    {
        string Nested(int depth) => (yaml ? "a: " : "") + new string('[', depth) + new string(']', depth);
        ParseOk(Nested(MaxDepth - (yaml ? 1 : 0)));
        ParseError(Nested(MaxDepth + (yaml ? 0 : 1)));
    }

    [Fact]
    public void AliasThatWouldNestTooDeep_IsRefused()
    {
        var half = MaxDepth / 2 + 1;
        var text = $"a: &deep {new string('[', half)}{new string(']', half)}\nb: {new string('[', half)}*deep{new string(']', half)}";
        var e = ParseError(text);
        Assert.Contains("YAML alias '*deep' would nest mappings and lists more than", e.Msg);
    }

    [Fact]
    public void DocumentAtTheDepthLimit_SurvivesTheCheckpointRoundTrip()
    {
        // Why the limit is 32, not 64: the checkpoint wraps the document, and System.Text.Json stops at 64.
        var node = ParseOk(new string('[', MaxDepth) + new string(']', MaxDepth));
        var json = JsonSerializer.Serialize(new ConfigCheckpoint(DateTimeOffset.UnixEpoch, node), SerializerOptions.Default);
        var back = JsonSerializer.Deserialize<ConfigCheckpoint>(json, SerializerOptions.Default);
        Assert.Equal(node!.ToJsonString(), back!.Config!.ToJsonString());
    }

    [Fact]
    public void TooManyValues_AreRefused()
    {
        var e = ParseError("[" + string.Join(",", Enumerable.Repeat("0", 100_001)) + "]");
        Assert.Contains("more than 100000 values", e.Msg);
        Assert.Equal("[99999]", e.Loc); // the list itself is the first value
    }

    [Fact]
    public void TextOverTheSizeLimit_IsRefused_BeforeParsing()
    {
        var e = ParseError("applications: []\n#" + new string('x', 1 << 20));
        Assert.Equal("", e.Loc);
        Assert.Contains($"at most {1 << 20} are allowed", e.Msg);
    }

    [Fact]
    public void LimitsCanBeTightened()
    {
        var limits = ConfigLimits.Default with { MaxDepth = 2, MaxNodes = 5 };
        Assert.Contains("more than 2 levels deep", ParseError("a: [[1]]", limits).Msg);
        Assert.Contains("more than 5 values", ParseError("a: [1, 2, 3, 4, 5]", limits).Msg);
        ParseOk("a: [1, 2, 3]", limits);
    }

    [Theory]
    [InlineData("a:\n  b: 1\n  b: 2", "a.b")]
    [InlineData("""{"a": {"b": 1, "b": 2}}""", "a.b")]
    public void DuplicateKey_IsRefused_NamingIt(string text, string loc)
    {
        var e = ParseError(text);
        Assert.Equal(loc, e.Loc);
        Assert.Equal("duplicate key 'b'", e.Msg);
    }

    [Fact]
    public void YamlNumberBeyondDouble_IsRefused_NotInfinity()
    {
        var e = ParseError("a:\n  timeout: 1e400");
        Assert.Equal("a.timeout", e.Loc);
        Assert.Contains("too large", e.Msg);
    }

    [Theory]
    [InlineData("a: \"\\ud800\"")]
    [InlineData("""{"a": "\ud800"}""")]
    [InlineData("""{"\udc00": 1}""")]
    public void LoneSurrogate_IsRefused(string text) => ParseError(text);

    [Fact]
    public void MappingAsKey_IsRefused()
    {
        var e = ParseError("? [a, b]\n: 1");
        Assert.Contains("a mapping key must be a plain value", e.Msg);
    }

    [Fact]
    public void OnlyTheFirstDocumentCounts()
    {
        var node = ParseOk("a: 1\n---\nb: 2");
        Assert.Equal("""{"a":1}""", node!.ToJsonString());
        Assert.Contains("invalid YAML", ParseError("a: 1\n---\nb: [unclosed").Msg);
    }

    [Theory]
    [InlineData("&")]
    [InlineData("*")]
    [InlineData("[&a *a]")]
    [InlineData("{&a a: *a}")]
    [InlineData("- &a\n- *a")]
    [InlineData("- &a [*a, *a]")]
    [InlineData("a: !!binary x")]
    [InlineData("%YAML 1.2\n---\na: 1")]
    [InlineData("a: |\n  x\n b")]
    [InlineData("? ")]
    [InlineData("a: &a\n  b: &a [*a]")]
    [InlineData("{\"a\": 1} trailing")]
    [InlineData("[1, 2")]
    [InlineData("{\"a\": 1e999999999}")]
    [InlineData("--- !!map\n? a\n: *b")]
    [InlineData("\uFEFF{}")]
    [InlineData("a: \0")]
    public void MalformedInput_NeverThrows(string text)
    {
        var result = ConfigValidator.Validate(text, new DeploymentCatalog());
        Assert.False(result.IsValid);
    }

    [Fact]
    public void TreeBuiltInCode_IsBoundsChecked_BeforeValidation()
    {
        JsonNode deep = new JsonArray();
        for (var i = 0; i < 10_000; i++) deep = new JsonArray(deep);
        var result = ConfigValidator.Validate(new JsonObject { ["applications"] = deep }, new DeploymentCatalog());
        Assert.Contains("levels deep", Assert.Single(result.Errors).Msg);
    }
}
