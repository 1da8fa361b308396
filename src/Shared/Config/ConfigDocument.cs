using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace ServeAspire.Config;

/// <summary>
/// Reads a config written as YAML or JSON into one JSON tree, so validation has one input shape.
/// The text is untrusted: both readers feed parse events to a <see cref="ConfigTreeBuilder"/>, which
/// enforces <see cref="ConfigLimits"/> (size, depth, values, alias expansion) without recursion, so a
/// hostile config yields a <see cref="ConfigError"/> rather than a stack overflow or a memory blow-up.
/// </summary>
/// <remarks>
/// YAML is read from YamlDotNet's event <see cref="Parser"/>, not its RepresentationModel: YamlStream
/// builds its node graph recursively (deep nesting overflows the stack before any check could run)
/// and resolves aliases into shared nodes, so a self-referential anchor becomes a cycle and an alias
/// bomb an exponential tree for whoever walks it. From events each alias is charged before it is copied.
/// </remarks>
public static partial class ConfigDocument
{
    /// <summary>Parses YAML or JSON within <see cref="ConfigLimits.Default"/>.</summary>
    public static JsonNode? Parse(string text, out ConfigError? error) => Parse(text, ConfigLimits.Default, out error);

    /// <summary>Parses YAML or JSON. Returns null and an error naming where (and the limit) on failure; never throws on bad input.</summary>
    public static JsonNode? Parse(string text, ConfigLimits limits, out ConfigError? error)
    {
        ArgumentNullException.ThrowIfNull(limits);
        error = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = new ConfigError("", "the config is empty");
            return null;
        }
        if (text.Length > limits.MaxTextLength)
        {
            error = new ConfigError("", $"the config is {text.Length} characters long; at most {limits.MaxTextLength} are allowed");
            return null;
        }
        var builder = new ConfigTreeBuilder(limits);
        var trimmed = text.AsSpan().TrimStart();
        try
        {
            return trimmed.StartsWith('{') || trimmed.StartsWith('[') ? ReadJson(text, limits, builder, out error) : ReadYaml(text, builder, out error);
        }
        catch (ConfigTreeException ex)
        {
            error = new ConfigError(ex.Loc, ex.Message);
            return null;
        }
    }

    /// <summary>
    /// Checks a tree that did not come from <see cref="Parse(string, ConfigLimits, out ConfigError?)"/>
    /// (e.g. a checkpoint) against the depth and size limits, iteratively. Null when it is within them.
    /// </summary>
    public static ConfigError? CheckBounds(JsonNode? root, ConfigLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        var pending = new Stack<(JsonNode? Node, int Depth)>();
        pending.Push((root, root is JsonObject or JsonArray ? 1 : 0));
        var nodes = 0;
        while (pending.Count > 0)
        {
            var (node, depth) = pending.Pop();
            if (++nodes > limits.MaxNodes)
                return new ConfigError("", $"the config has more than {limits.MaxNodes} values; at most {limits.MaxNodes} are allowed");
            if (depth > limits.MaxDepth)
                return new ConfigError("", $"the config nests mappings and lists more than {limits.MaxDepth} levels deep; at most {limits.MaxDepth} levels are allowed");
            IEnumerable<JsonNode?> children = node switch
            {
                JsonObject o => o.Select(p => p.Value),
                JsonArray a => a,
                _ => [],
            };
            foreach (var child in children) pending.Push((child, child is JsonObject or JsonArray ? depth + 1 : depth));
        }
        return null;
    }

    private static JsonNode? ReadJson(string text, ConfigLimits limits, ConfigTreeBuilder builder, out ConfigError? error)
    {
        error = null;
        // The reader's own depth limit sits above ours so the builder reports depth, naming the field.
        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(text), new JsonReaderOptions { MaxDepth = limits.MaxDepth + 8 });
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject: builder.BeginContainer(mapping: true, anchor: null, default); break;
                    case JsonTokenType.StartArray: builder.BeginContainer(mapping: false, anchor: null, default); break;
                    case JsonTokenType.EndObject or JsonTokenType.EndArray: builder.EndContainer(); break;
                    case JsonTokenType.PropertyName: builder.Key(reader.GetString()!, default); break;
                    case JsonTokenType.String: builder.Scalar(JsonValue.Create(reader.GetString()!), "", null, default); break;
                    case JsonTokenType.True or JsonTokenType.False: builder.Scalar(JsonValue.Create(reader.GetBoolean()), "", null, default); break;
                    case JsonTokenType.Null: builder.Scalar(null, "", null, default); break;
                    // A number keeps its JSON text (1.0 stays 1.0, 1e400 is not turned into infinity here).
                    case JsonTokenType.Number: builder.Scalar(JsonNode.Parse(ref reader), "", null, default); break;
                }
            }
            return builder.Root;
        }
        catch (JsonException ex)
        {
            error = new ConfigError("", $"invalid JSON at line {(ex.LineNumber ?? 0) + 1}: {ex.Message}");
            return null;
        }
        catch (InvalidOperationException ex)
        {
            // GetString on an escaped lone surrogate ("\ud800") and the like.
            error = new ConfigError("", $"invalid JSON: {ex.Message}");
            return null;
        }
    }

    private static JsonNode? ReadYaml(string text, ConfigTreeBuilder builder, out ConfigError? error)
    {
        error = null;
        var parser = new Parser(new StringReader(text));
        try
        {
            var inDocument = false;
            while (parser.MoveNext())
            {
                var evt = parser.Current!;
                var at = new TextPosition(evt.Start.Line, evt.Start.Column);
                switch (evt)
                {
                    case DocumentStart when builder.HasRoot:
                        // Only the first document counts; the rest is still read for syntax errors.
                        break;
                    case DocumentStart: inDocument = true; break;
                    case DocumentEnd: inDocument = false; break;
                    case MappingStart m when inDocument: builder.BeginContainer(mapping: true, Anchor(m.Anchor), at); break;
                    case SequenceStart s when inDocument: builder.BeginContainer(mapping: false, Anchor(s.Anchor), at); break;
                    case MappingEnd or SequenceEnd when inDocument: builder.EndContainer(); break;
                    case Scalar s when inDocument: builder.Scalar(builder.ExpectsKey ? null : ScalarValue(s, builder, at), s.Value, Anchor(s.Anchor), at); break;
                    case AnchorAlias a when inDocument: builder.Alias(a.Value.Value, at); break;
                }
                // Once the root is built, later documents must not add to it.
                if (builder.HasRoot) inDocument = false;
            }
        }
        catch (YamlException ex)
        {
            var inner = ex.InnerException?.Message;
            error = new ConfigError("", $"invalid YAML at line {ex.Start.Line}, column {ex.Start.Column}: {inner ?? ex.Message}");
            return null;
        }
        if (!builder.HasRoot)
        {
            error = new ConfigError("", "the config is empty");
            return null;
        }
        return builder.Root;
    }

    private static string? Anchor(AnchorName name) => name.IsEmpty ? null : name.Value;

    private static JsonNode? ScalarValue(Scalar scalar, ConfigTreeBuilder builder, TextPosition at)
    {
        var value = scalar.Value ?? "";
        if (scalar.Style != ScalarStyle.Plain) return JsonValue.Create(value);
        // YAML 1.2 core schema for plain scalars.
        if (value is "" or "~" or "null" or "Null" or "NULL") return null;
        if (value is "true" or "True" or "TRUE") return JsonValue.Create(true);
        if (value is "false" or "False" or "FALSE") return JsonValue.Create(false);
        if (IntPattern().IsMatch(value) && long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
            return JsonValue.Create(l);
        if (FloatPattern().IsMatch(value) && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d))
        {
            // Infinity would pass a range check written as "> 0" and cannot be written back as JSON.
            if (!double.IsFinite(d)) throw builder.Fail($"the number {ConfigText.Clip(value)} is too large to represent{at}");
            return JsonValue.Create(d);
        }
        return JsonValue.Create(value);
    }

    [GeneratedRegex(@"^[-+]?[0-9]+$")]
    private static partial Regex IntPattern();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex FloatPattern();
}
