using System.Text.Json;
using System.Text.Json.Serialization;

namespace ServeAspire.Model;

public static class SerializerOptions
{
    /// <summary>snake_case JSON, as in Ray's REST API.</summary>
    public static JsonSerializerOptions Default { get; } = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        WriteIndented = false,
        // Error messages quote field names: keep ' and " readable (responses are JSON, never HTML).
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}
