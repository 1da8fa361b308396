using ServeAspire.Model;
using ServeAspire.Runtime;

namespace ServeAspire.Controller.Apis;

/// <summary>The State API: <c>GET /api/actors</c>, filterable by exact field value (<c>?class_name=…&amp;state=…</c>).</summary>
internal static class ActorsApi
{
    private static readonly Dictionary<string, Func<ActorInfo, string?>> Filters = new()
    {
        ["class_name"] = a => a.ClassName,
        ["state"] = a => a.State,
        ["name"] = a => a.Name,
        ["node_id"] = a => a.NodeId,
        ["actor_id"] = a => a.ActorId,
        ["pid"] = a => a.Pid?.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>How long a controller told to kill itself lets its answer travel before it dies (loopback or one forwarding hop).</summary>
    private static readonly TimeSpan SelfKillGrace = TimeSpan.FromMilliseconds(500);

    public static IEndpointRouteBuilder MapActorsApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/actors", async (HttpRequest request, ServeDetailsBuilder details, CancellationToken ct) =>
        {
            var unknown = request.Query.Keys.Where(k => !Filters.ContainsKey(k)).ToList();
            if (unknown.Count > 0)
                return Results.Json(new { error = $"unknown filter '{unknown[0]}'; filter on one of: {string.Join(", ", Filters.Keys)}" }, SerializerOptions.Default, statusCode: 400);
            IEnumerable<ActorInfo> actors = await details.ActorsAsync(ct);
            foreach (var (key, values) in request.Query)
                actors = actors.Where(a => values.Contains(Filters[key](a)));
            var list = actors.ToList();
            return Results.Json(new ActorList(list.Count, list), SerializerOptions.Default);
        });
        // Ray's ray.kill(actor, no_restart=…): body {"no_restart": bool}, optional.
        app.MapPost("/api/actors/{name}/kill", async (string name, HttpContext http, ActorKiller killer, CancellationToken ct) =>
        {
            var (noRestart, bodyError) = await ReadNoRestartAsync(http.Request, ct);
            if (bodyError is not null) return Results.Json(new { error = bodyError }, SerializerOptions.Default, statusCode: 400);
            var dieAfterAnswer = false;
            var (result, status, error) = await killer.KillAsync(name, noRestart, () => dieAfterAnswer = true, ct);
            if (!dieAfterAnswer)
                return result is not null ? Results.Json(result, SerializerOptions.Default) : Results.Json(new { error }, SerializerOptions.Default, statusCode: status);
            // This controller is the target: the answer goes out first (written, flushed, connection closing),
            // and the process dies a moment later, so the caller (or the standby forwarding for it) reads it whole.
            http.Response.Headers.Connection = "close";
            await http.Response.WriteAsJsonAsync(result, SerializerOptions.Default, ct);
            await http.Response.CompleteAsync();
            _ = Task.Delay(SelfKillGrace).ContinueWith(_ => KillSwitch.Die(), TaskScheduler.Default);
            return Results.Empty;
        });
        return app;
    }

    /// <summary>The kill body: empty, or a mapping with at most <c>no_restart</c> (a boolean).</summary>
    internal static async Task<(bool? NoRestart, string? Error)> ReadNoRestartAsync(HttpRequest request, CancellationToken ct)
    {
        if (request.ContentLength == 0) return (null, null);
        using var reader = new StreamReader(request.Body);
        var text = await reader.ReadToEndAsync(ct);
        return ParseNoRestart(text);
    }

    internal static (bool? NoRestart, string? Error) ParseNoRestart(string text)
    {
        if (string.IsNullOrWhiteSpace(text)) return (null, null);
        System.Text.Json.Nodes.JsonNode? body;
        try { body = System.Text.Json.Nodes.JsonNode.Parse(text); }
        catch (System.Text.Json.JsonException ex) { return (null, $"the body is not JSON: {ex.Message}"); }
        if (body is not System.Text.Json.Nodes.JsonObject obj) return (null, "the body must be a mapping like {\"no_restart\": true}");
        foreach (var (key, _) in obj)
            if (key != "no_restart") return (null, $"unknown field '{key}': the kill body takes only no_restart");
        if (!obj.TryGetPropertyValue("no_restart", out var value) || value is null) return (null, null);
        return value.GetValueKind() is System.Text.Json.JsonValueKind.True or System.Text.Json.JsonValueKind.False
            ? (value.GetValue<bool>(), null)
            : (null, $"no_restart must be true or false, not {value.ToJsonString()}");
    }


}
