using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using YamlDotNet.Serialization;

namespace ServeAspire.Cli.Output;

/// <summary>JSON and YAML renderings of the API's JSON (field names and order as the API has them).</summary>
internal static class Formats
{
    private static readonly JsonSerializerOptions Indented = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private static readonly ISerializer Yaml = new SerializerBuilder().DisableAliases().Build();

    public static string Json(JsonNode? node) => node is null ? "null" : node.ToJsonString(Indented);

    public static string ToYaml(JsonNode? node) => Yaml.Serialize(Plain(node));

    public static string Render(JsonNode? node, OutputFormat format) => format == OutputFormat.Yaml ? ToYaml(node) : Json(node);

    /// <summary>JSON as dictionaries, lists and scalars, which YamlDotNet writes as mappings, sequences and scalars.</summary>
    private static object? Plain(JsonNode? node) => node switch
    {
        null => null,
        JsonObject o => o.ToDictionary(p => p.Key, p => Plain(p.Value)),
        JsonArray a => a.Select(Plain).ToList(),
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => v.GetValue<string>(),
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            // From the number's JSON text: a value may wrap an int as well as a parsed element.
            JsonValueKind.Number => long.TryParse(v.ToJsonString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) ? l
                : decimal.Parse(v.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture),
            _ => null,
        },
        _ => null,
    };

    public static string Text(JsonNode? node) => node switch
    {
        null => "",
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        _ => node.ToJsonString(),
    };
}
