using ServeAspire.Model;

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
        return app;
    }
}
