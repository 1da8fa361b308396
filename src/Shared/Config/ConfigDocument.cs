using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace ServeAspire.Config;

/// <summary>Reads a config written as YAML or JSON into one JSON tree, so validation has one input shape.</summary>
public static partial class ConfigDocument
{
    /// <summary>Parses YAML or JSON. Returns null and a message naming the line on a syntax error.</summary>
    public static JsonNode? Parse(string text, out ConfigError? error)
    {
        error = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = new ConfigError("", "the config is empty");
            return null;
        }
        var trimmed = text.TrimStart();
        if (trimmed.StartsWith('{') || trimmed.StartsWith('['))
        {
            try
            {
                return JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = false });
            }
            catch (JsonException ex)
            {
                error = new ConfigError("", $"invalid JSON at line {(ex.LineNumber ?? 0) + 1}: {ex.Message}");
                return null;
            }
        }
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(text));
            if (stream.Documents.Count == 0)
            {
                error = new ConfigError("", "the config is empty");
                return null;
            }
            return Convert(stream.Documents[0].RootNode, "");
        }
        catch (YamlException ex)
        {
            var inner = ex.InnerException?.Message;
            error = new ConfigError("", $"invalid YAML at line {ex.Start.Line}, column {ex.Start.Column}: {inner ?? ex.Message}");
            return null;
        }
        catch (DuplicateKeyException ex)
        {
            error = new ConfigError(ex.Loc, $"duplicate key '{ex.Key}'");
            return null;
        }
    }

    private static JsonNode? Convert(YamlNode node, string loc)
    {
        switch (node)
        {
            case YamlMappingNode map:
                var obj = new JsonObject();
                foreach (var (k, v) in map.Children)
                {
                    var key = k is YamlScalarNode s ? s.Value ?? "" : k.ToString();
                    var childLoc = loc.Length == 0 ? key : $"{loc}.{key}";
                    if (obj.ContainsKey(key)) throw new DuplicateKeyException(childLoc, key);
                    obj[key] = Convert(v, childLoc);
                }
                return obj;
            case YamlSequenceNode seq:
                var arr = new JsonArray();
                var i = 0;
                foreach (var item in seq.Children) arr.Add(Convert(item, $"{loc}[{i++}]"));
                return arr;
            case YamlScalarNode scalar:
                return Scalar(scalar);
            default:
                return null;
        }
    }

    private static JsonNode? Scalar(YamlScalarNode scalar)
    {
        var value = scalar.Value ?? "";
        if (scalar.Style != YamlDotNet.Core.ScalarStyle.Plain) return JsonValue.Create(value);
        // YAML 1.2 core schema for plain scalars.
        if (value is "" or "~" or "null" or "Null" or "NULL") return null;
        if (value is "true" or "True" or "TRUE") return JsonValue.Create(true);
        if (value is "false" or "False" or "FALSE") return JsonValue.Create(false);
        if (IntPattern().IsMatch(value) && long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
            return JsonValue.Create(l);
        if (FloatPattern().IsMatch(value) && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d))
            return JsonValue.Create(d);
        return JsonValue.Create(value);
    }

    [GeneratedRegex(@"^[-+]?[0-9]+$")]
    private static partial Regex IntPattern();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex FloatPattern();

    private sealed class DuplicateKeyException(string loc, string key) : Exception
    {
        public string Loc { get; } = loc;
        public string Key { get; } = key;
    }
}
