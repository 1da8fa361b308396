using System.Text.Json;
using System.Text.Json.Serialization;

namespace ServeAspire.Model;

public static class SerializerOptions
{
    /// <summary>snake_case JSON, as in Ray's REST API.</summary>
    public static JsonSerializerOptions Default { get; } = Create();

    /// <summary>A new, still mutable copy of <see cref="Default"/>'s settings (a source-generated context takes its own).</summary>
    public static JsonSerializerOptions Create() => new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        WriteIndented = false,
        // Error messages quote field names: keep ' and " readable (responses are JSON, never HTML).
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}

/// <summary>
/// Source-generated JSON for the contracts the proxy reads and writes. The proxy is compiled to native code
/// (issue 10), where reflection-based JSON is off; the other services use the same metadata. Same settings as
/// <see cref="SerializerOptions.Default"/>, so the bytes do not change.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(RoutingIndex))]
[JsonSerializable(typeof(RouteEntry))]
[JsonSerializable(typeof(ProxyRegistration))]
[JsonSerializable(typeof(OngoingRequestsReport))]
[JsonSerializable(typeof(ClusterEvent))]
[JsonSerializable(typeof(ServeAspire.Runtime.KillOrder))]
[JsonSerializable(typeof(ErrorBody))]
[JsonSerializable(typeof(Dictionary<string, string>))]
public sealed partial class SharedJson : JsonSerializerContext
{
    /// <summary>The context to use: <see cref="SerializerOptions.Default"/>'s settings, its encoder included.</summary>
    public static SharedJson Web { get; } = new(SerializerOptions.Create());
}

/// <summary>An error answer: <c>{"error": "...", "status": 503}</c>.</summary>
public sealed record ErrorBody(string Error, int Status);
