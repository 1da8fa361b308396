namespace ServeAspire.Config;

/// <summary>
/// Bounds on what a config may ask for. A config is hostile until validated: every bound here turns
/// a config that would exhaust memory, stack or the cluster into a <see cref="ConfigError"/> instead.
/// The controller passes its own replica cap; everything else normally stays at <see cref="Default"/>.
/// </summary>
public sealed record ConfigLimits
{
    public static ConfigLimits Default { get; } = new();

    /// <summary>The setting that holds the replica cap, named in error messages so users know what to ask for.</summary>
    public const string MaxReplicasSetting = "Controller:MaxReplicas";

    /// <summary>Longest accepted config text, in characters (the REST API also caps the body at 1 MiB).</summary>
    public int MaxTextLength { get; init; } = 1 << 20;

    /// <summary>
    /// Deepest nesting of mappings and lists. 32, not 64: the document is checkpointed and served
    /// inside a few more levels of JSON, and System.Text.Json refuses to write or read past 64.
    /// </summary>
    public int MaxDepth { get; init; } = 32;

    /// <summary>Most values in the parsed tree, counting every use of a YAML alias as a full copy.</summary>
    public int MaxNodes { get; init; } = 100_000;

    /// <summary>
    /// Most characters of keys and strings in the parsed tree, aliases counted per use: without it a
    /// few thousand aliases to one long string would be megabytes each time the config is written out.
    /// </summary>
    public int MaxExpandedLength { get; init; } = 4 << 20;

    /// <summary>The cluster's replica cap: bounds each deployment's num_replicas and their sum over all applications.</summary>
    public int MaxReplicas { get; init; } = 1000;

    public int MaxApplications { get; init; } = 100;

    /// <summary>Longest application or deployment name.</summary>
    public int MaxNameLength { get; init; } = 128;

    public int MaxRoutePrefixLength { get; init; } = 256;

    /// <summary>Most errors reported for one config: a hostile config could otherwise produce one per value.</summary>
    public int MaxErrors { get; init; } = 100;
}
