using System.Text.Json;
using System.Text.Json.Nodes;

namespace ServeAspire.Config;

// Typed reads of single values, each adding a ConfigError (and returning null) when the value is wrong.
public sealed partial class ConfigValidator
{
    private void Error(string loc, string msg)
    {
        // Counted past the cap, so "before/after" checks still see every error.
        _errorCount++;
        if (_errors.Count < _limits.MaxErrors) _errors.Add(new ConfigError(loc, msg));
    }

    private string? Str(JsonNode? node, string loc)
    {
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.String) return v.GetValue<string>();
        Error(loc, $"must be a string, got {ConfigText.Show(node)}");
        return null;
    }

    /// <summary>A bounded name: application and deployment names end up in routes, logs and store keys.</summary>
    private void CheckName(string name, string loc)
    {
        if (name.Length > _limits.MaxNameLength)
            Error(loc, $"must be between 1 and {_limits.MaxNameLength} characters long (got {name.Length} characters)");
        else if (name.Any(char.IsControl))
            Error(loc, $"must not contain control characters (got \"{ConfigText.Clip(name)}\")");
    }

    /// <summary>An integer field, or the fallback when it is absent or null.</summary>
    private int IntOption(JsonObject? obj, string loc, string key, int fallback, NumberRange range) =>
        obj?[key] is { } v && v.GetValueKind() != JsonValueKind.Null ? (int?)Integer(v, $"{loc}.{key}", range) ?? fallback : fallback;

    /// <summary>A number field, or the fallback when it is absent or null.</summary>
    private double NumOption(JsonObject? obj, string loc, string key, double fallback, NumberRange range) =>
        obj?[key] is { } v && v.GetValueKind() != JsonValueKind.Null ? Number(v, $"{loc}.{key}", range) ?? fallback : fallback;

    private long? Integer(JsonNode? node, string loc, NumberRange range)
    {
        switch (ReadInteger(node, out var n))
        {
            case IntegerRead.Integer when range.Contains(n): return n;
            case IntegerRead.Integer or IntegerRead.TooLarge: Error(loc, range.OutOfRange(node)); return null;
            default: Error(loc, range.WrongType(node)); return null;
        }
    }

    private double? Number(JsonNode? node, string loc, NumberRange range)
    {
        if (node is not JsonValue v || v.GetValueKind() != JsonValueKind.Number)
        {
            Error(loc, range.WrongType(node));
            return null;
        }
        // A JSON number beyond double's range (1e400) reads as infinity or not at all: out of range either way.
        if (TryDouble(v, out var d) && double.IsFinite(d) && range.Contains(d)) return d;
        Error(loc, range.OutOfRange(node));
        return null;
    }

    private enum IntegerRead { NotANumber, NotAnInteger, TooLarge, Integer }

    private static IntegerRead ReadInteger(JsonNode? node, out long value)
    {
        value = 0;
        if (node is not JsonValue v || v.GetValueKind() != JsonValueKind.Number) return IntegerRead.NotANumber;
        if (v.TryGetValue(out value)) return IntegerRead.Integer;
        // Integers past long's range arrive as doubles (from YAML) or unreadable (JSON): say "out of range".
        if (!TryDouble(v, out var d) || !double.IsFinite(d) || Math.Abs(d) >= long.MaxValue) return IntegerRead.TooLarge;
        return IntegerRead.NotAnInteger;
    }

    private static bool TryDouble(JsonValue v, out double d)
    {
        // Numbers come JSON-backed (from JSON) or as long/double (from YAML): accept each.
        if (v.TryGetValue(out d)) return true;
        if (v.TryGetValue<long>(out var l)) { d = l; return true; }
        return false;
    }

    private void CheckKeys(JsonObject obj, string loc, string[] known, IReadOnlySet<string> ignored)
    {
        foreach (var (key, _) in obj)
        {
            var path = loc.Length == 0 ? ConfigText.Clip(key) : $"{loc}.{ConfigText.Clip(key)}";
            if (!known.Contains(key))
            {
                var suggestion = Suggest(key, known);
                Error(path, suggestion is null
                    ? $"unknown field '{ConfigText.Clip(key)}'; known fields here: {string.Join(", ", known)}"
                    : $"unknown field '{ConfigText.Clip(key)}'; did you mean '{suggestion}'?");
            }
            else if (ignored.Contains(key))
                _ignored.Add(path);
        }
    }

    /// <summary>The known key closest to a typo, if it is close enough to be one.</summary>
    internal static string? Suggest(string key, IEnumerable<string> known)
    {
        var limit = Math.Max(2, key.Length / 4);
        var lower = key.ToLowerInvariant();
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var k in known)
        {
            // The distance is at least the length difference: skip the quadratic work (a key may be huge).
            if (Math.Abs(lower.Length - k.Length) > limit) continue;
            var d = Levenshtein(lower, k);
            if (d < bestDistance) (best, bestDistance) = (k, d);
        }
        return bestDistance <= limit ? best : null;
    }

    private static int Levenshtein(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++) prev[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (var j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}
