using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ServeAspire.Config;

/// <summary>
/// Quotes parts of a config in error messages. A hostile config can hold megabyte-long keys and values
/// and control characters, so what a message echoes is clipped and made printable.
/// </summary>
internal static class ConfigText
{
    public const int MaxShown = 100;

    /// <summary>The text clipped to <see cref="MaxShown"/> characters, control characters escaped.</summary>
    public static string Clip(string text)
    {
        var clipped = text.Length > MaxShown;
        var span = clipped ? text.AsSpan(0, MaxShown) : text.AsSpan();
        if (!clipped && !span.ContainsAnyInRange('\0', '\u001f') && !span.Contains('\u007f')) return text;
        var sb = new StringBuilder(span.Length + 8);
        foreach (var c in span)
        {
            if (char.IsControl(c)) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
            else sb.Append(c);
        }
        if (clipped) sb.Append($"… ({text.Length} characters)");
        return sb.ToString();
    }

    /// <summary>A value for a message: strings quoted and clipped, mappings and lists named, not printed.</summary>
    public static string Show(JsonNode? node) => node switch
    {
        null => "null",
        JsonObject => "a mapping",
        JsonArray => "a list",
        JsonValue v when v.GetValueKind() == JsonValueKind.String => $"\"{Clip(v.GetValue<string>())}\"",
        // Parsed JSON keeps its text (1e400 stays 1e400, not infinity).
        JsonValue v when v.TryGetValue<JsonElement>(out var e) => Clip(e.GetRawText()),
        // Only a tree built in code can hold these, and JSON cannot write them.
        JsonValue v when v.TryGetValue<double>(out var d) && !double.IsFinite(d) => d.ToString(CultureInfo.InvariantCulture),
        _ => Clip(node.ToJsonString()),
    };
}
