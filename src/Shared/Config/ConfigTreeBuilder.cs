using System.Text;
using System.Text.Json.Nodes;

namespace ServeAspire.Config;

/// <summary>A line and column in the config text, for messages; 0 when the reader does not know it.</summary>
internal readonly record struct TextPosition(long Line, long Column)
{
    public override string ToString() => Line > 0 ? $" (line {Line}, column {Column})" : "";
}

/// <summary>Thrown inside the parser only; <see cref="ConfigDocument"/> turns it into a <see cref="ConfigError"/>.</summary>
internal sealed class ConfigTreeException(string loc, string message) : Exception(message)
{
    public string Loc { get; } = loc;
}

/// <summary>
/// Builds the JSON tree from a stream of parse events (YAML's or JSON's), without recursion, enforcing
/// <see cref="ConfigLimits"/> as it goes: nesting depth, the number of values and the characters of keys
/// and strings (a YAML alias counts as a full copy of what it refers to, so an alias bomb is refused
/// after at most the limit's worth of work), duplicate keys and aliases to a node that contains them.
/// </summary>
internal sealed class ConfigTreeBuilder(ConfigLimits limits)
{
    /// <summary>A mapping or list still open, with what its subtree has cost so far.</summary>
    private sealed class Frame(JsonNode container, string? anchor, string? segment)
    {
        public readonly JsonNode Container = container;
        public readonly string? Anchor = anchor;
        /// <summary>".key" in the parent mapping or "[i]" in the parent list; null for the root.</summary>
        public readonly string? Segment = segment;
        public string? PendingKey;
        public int Items;
        public long Nodes = 1;
        public long Chars;
        public int Height = 1;
    }

    /// <summary>A finished anchored node and its size, so each alias to it can be charged before it is copied.</summary>
    private sealed record Anchored(JsonNode? Node, string? ScalarText, long Nodes, long Chars, int Height);

    private readonly List<Frame> _open = [];
    private readonly Dictionary<string, Anchored> _anchors = new(StringComparer.Ordinal);
    private long _nodes;
    private long _chars;

    public bool HasRoot { get; private set; }
    public JsonNode? Root { get; private set; }

    /// <summary>True when the next node is a mapping key.</summary>
    public bool ExpectsKey => _open.Count > 0 && _open[^1] is { Container: JsonObject, PendingKey: null };

    public void BeginContainer(bool mapping, string? anchor, TextPosition at)
    {
        if (ExpectsKey) throw Fail("a mapping key must be a plain value, not a mapping or a list" + at);
        var segment = ChildSegment();
        if (_open.Count + 1 > limits.MaxDepth)
            throw new ConfigTreeException(Loc(segment),
                $"the config nests mappings and lists more than {limits.MaxDepth} levels deep{at}; at most {limits.MaxDepth} levels are allowed");
        Charge(1, 0, at);
        _open.Add(new Frame(mapping ? new JsonObject() : new JsonArray(), anchor, segment));
    }

    public void EndContainer()
    {
        var frame = _open[^1];
        _open.RemoveAt(_open.Count - 1);
        Attach(frame.Container, frame.Nodes, frame.Chars, frame.Height, frame.Anchor, scalarText: null);
    }

    /// <summary>A mapping key (JSON's property name).</summary>
    public void Key(string key, TextPosition at)
    {
        CheckText(key, at);
        var frame = _open[^1];
        if (((JsonObject)frame.Container).ContainsKey(key))
            throw new ConfigTreeException(Loc("." + key), $"duplicate key '{ConfigText.Clip(key)}'");
        Charge(0, key.Length, at);
        frame.Chars += key.Length;
        frame.PendingKey = key;
    }

    /// <summary>A scalar: a key when a mapping expects one (its text as written), else a value.</summary>
    public void Scalar(JsonNode? value, string text, string? anchor, TextPosition at)
    {
        if (ExpectsKey)
        {
            Key(text, at);
            if (anchor is not null) _anchors[anchor] = new Anchored(JsonValue.Create(text), text, 1, text.Length, 0);
            return;
        }
        var chars = 0;
        if (value is JsonValue v && v.TryGetValue<string>(out var s))
        {
            CheckText(s, at);
            chars = s.Length;
        }
        Charge(1, chars, at);
        Attach(value, 1, chars, 0, anchor, text);
    }

    public void Alias(string name, TextPosition at)
    {
        // Checked before the finished anchors: a node being built shadows an earlier one of the same name.
        if (_open.Exists(f => f.Anchor == name))
            throw Fail($"YAML alias '*{ConfigText.Clip(name)}' refers to a node that contains it{at}");
        if (!_anchors.TryGetValue(name, out var anchored))
            throw Fail($"YAML alias '*{ConfigText.Clip(name)}' refers to no anchor defined before it{at}");
        if (ExpectsKey)
        {
            if (anchored.ScalarText is null) throw Fail($"YAML alias '*{ConfigText.Clip(name)}' is used as a key but refers to a mapping or a list{at}");
            Key(anchored.ScalarText, at);
            return;
        }
        if (_nodes + anchored.Nodes > limits.MaxNodes)
            throw Fail($"YAML alias '*{ConfigText.Clip(name)}' would grow the config past {limits.MaxNodes} values{at} (each use of an alias counts as a full copy of what it refers to); at most {limits.MaxNodes} are allowed");
        if (_chars + anchored.Chars > limits.MaxExpandedLength)
            throw Fail($"YAML alias '*{ConfigText.Clip(name)}' would grow the config past {limits.MaxExpandedLength} characters of keys and strings{at} (each use of an alias counts as a full copy of what it refers to); at most {limits.MaxExpandedLength} are allowed");
        if (_open.Count + anchored.Height > limits.MaxDepth)
            throw Fail($"YAML alias '*{ConfigText.Clip(name)}' would nest mappings and lists more than {limits.MaxDepth} levels deep{at}; at most {limits.MaxDepth} levels are allowed");
        Charge(anchored.Nodes, anchored.Chars, at);
        Attach(anchored.Node?.DeepClone(), anchored.Nodes, anchored.Chars, anchored.Height, anchor: null, anchored.ScalarText);
    }

    /// <summary>An error at the node about to be read.</summary>
    public ConfigTreeException Fail(string message) => new(Loc(ChildSegment()), message);

    private void Attach(JsonNode? node, long nodes, long chars, int height, string? anchor, string? scalarText)
    {
        if (_open.Count == 0)
        {
            Root = node;
            HasRoot = true;
        }
        else
        {
            var parent = _open[^1];
            if (parent.Container is JsonArray list) list.Add(node);
            else
            {
                ((JsonObject)parent.Container)[parent.PendingKey!] = node;
                parent.PendingKey = null;
            }
            parent.Items++;
            parent.Nodes += nodes;
            parent.Chars += chars;
            parent.Height = Math.Max(parent.Height, height + 1);
        }
        if (anchor is not null) _anchors[anchor] = new Anchored(node, node is JsonObject or JsonArray ? null : scalarText, nodes, chars, height);
    }

    private void Charge(long nodes, long chars, TextPosition at)
    {
        _nodes += nodes;
        _chars += chars;
        if (_nodes > limits.MaxNodes)
            throw Fail($"the config has more than {limits.MaxNodes} values{at}; at most {limits.MaxNodes} are allowed");
        if (_chars > limits.MaxExpandedLength)
            throw Fail($"the config has more than {limits.MaxExpandedLength} characters of keys and strings{at}; at most {limits.MaxExpandedLength} are allowed");
    }

    /// <summary>Lone surrogates cannot be written back as JSON (the checkpoint, the API), so they stop here.</summary>
    private void CheckText(string text, TextPosition at)
    {
        if (!IsWellFormed(text))
            throw Fail($"the text contains an invalid UTF-16 code unit (a lone surrogate){at}");
    }

    private static bool IsWellFormed(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (!char.IsSurrogate(text[i])) continue;
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) { i++; continue; }
            return false;
        }
        return true;
    }

    private string? ChildSegment()
    {
        if (_open.Count == 0) return null;
        var parent = _open[^1];
        return parent.Container is JsonArray ? $"[{parent.Items}]" : parent.PendingKey is { } key ? "." + key : null;
    }

    /// <summary>The loc of a node, built only for an error: eager locs would cost depth × key length per node.</summary>
    private string Loc(string? lastSegment)
    {
        var sb = new StringBuilder();
        foreach (var segment in _open.Select(f => f.Segment).Append(lastSegment))
            if (segment is not null) sb.Append(ConfigText.Clip(segment));
        return sb.Length > 0 && sb[0] == '.' ? sb.ToString(1, sb.Length - 1) : sb.ToString();
    }
}
