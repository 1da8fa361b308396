using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ServeAspire.Config;
using ServeAspire.Controller.Checkpoints;
using ServeAspire.Controller.ControlLoop;
using ServeAspire.Controller.Deployments;
using ServeAspire.Controller.Leadership;
using ServeAspire.Model;
using ServeAspire.Runtime;
using StackExchange.Redis;

namespace ServeAspire.Controller.Apis;

/// <summary>Ray Serve's REST API: <c>PUT/GET/DELETE /api/serve/applications/</c>.</summary>
internal static class ApplicationsApi
{
    /// <summary>A config larger than this is refused (413) before parsing.</summary>
    public const int MaxConfigBytes = 1 << 20;

    public static IEndpointRouteBuilder MapApplicationsApi(this IEndpointRouteBuilder app)
    {
        // Routing matches the path with or without the trailing slash (Ray registers the slash form).
        const string path = "/api/serve/applications/";
        app.MapPut(path, PutAsync);
        app.MapGet(path, (ServeDetailsBuilder details, CancellationToken ct) => details.BuildAsync(ct));
        app.MapDelete(path, DeleteAsync);
        app.MapGet("/api/ray/version", () => Results.Json(new { version = "4", ray_version = "2.x (ServeAspire)", ray_commit = "", session_name = "serveaspire" }));
        return app;
    }

    private static async Task<IResult> PutAsync(HttpRequest request, ConfigWriter writer, IDeploymentResolver resolver, ConfigLimits limits, CancellationToken ct)
    {
        if (request.ContentLength > MaxConfigBytes)
            return Error(413, $"config is larger than {MaxConfigBytes} bytes");
        using var reader = new StreamReader(request.Body, Encoding.UTF8);
        var buffer = new char[MaxConfigBytes + 1];
        var read = await reader.ReadBlockAsync(buffer, ct);
        if (read > MaxConfigBytes) return Error(413, $"config is larger than {MaxConfigBytes} bytes");
        var text = new string(buffer, 0, read);

        var document = ConfigDocument.Parse(text, limits, out var parseError);
        var result = parseError is not null
            ? new ConfigValidationResult(null, [parseError], [])
            : ConfigValidator.Validate(document, resolver, limits);
        if (!result.IsValid)
            return Results.Json(new { error = result.Summary, errors = result.Errors }, SerializerOptions.Default, statusCode: 400);

        try
        {
            await writer.ApplyAsync(result.Config!, document, ct);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or FencedException or NotLeaderException)
        {
            return Error(503, $"the config could not be checkpointed ({ex.Message}); nothing was changed, retry later", retryAfter: true);
        }
        return Results.Json(new
        {
            message = $"Config accepted: {result.Config!.Applications.Count} application(s). Deployment is asynchronous: poll GET /api/serve/applications/.",
            applications = result.Config.Applications.Select(a => a.Name),
            ignored = result.Ignored,
        }, SerializerOptions.Default);
    }

    private static async Task<IResult> DeleteAsync(ConfigWriter writer, CancellationToken ct)
    {
        try
        {
            await writer.ApplyAsync(ServeDeployConfig.Empty, new JsonObject { ["applications"] = new JsonArray() }, ct);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or FencedException or NotLeaderException)
        {
            return Error(503, $"the config could not be checkpointed ({ex.Message}); nothing was changed, retry later", retryAfter: true);
        }
        return Results.Ok();
    }

    private static IResult Error(int status, string message, bool retryAfter = false) =>
        new ErrorResult(status, message, retryAfter);

    private sealed class ErrorResult(int status, string message, bool retryAfter) : IResult
    {
        public Task ExecuteAsync(HttpContext context)
        {
            if (retryAfter) context.Response.Headers.RetryAfter = "1";
            context.Response.StatusCode = status;
            return context.Response.WriteAsJsonAsync(new { error = message }, SerializerOptions.Default);
        }
    }
}

internal sealed class NotLeaderException() : Exception("this controller does not lead (or is still recovering)");

/// <summary>
/// Applies configs one at a time: checkpoint first, fenced by the leader's token (so a crash cannot
/// lose an accepted config, and a deposed leader cannot apply one), then the target state.
/// </summary>
internal sealed class ConfigWriter(DeploymentStateManager state, IClusterStore store, ControlLoopService loop, LeaderState leader, TimeProvider time)
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    public async Task ApplyAsync(ServeDeployConfig config, JsonNode? document, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            var token = leader.Token;
            if (!loop.ReadyFor(token)) throw new NotLeaderException();
            var now = time.GetUtcNow();
            await store.SaveConfigAsync(JsonSerializer.Serialize(new ConfigCheckpoint(now, document), SerializerOptions.Default), token, ct);
            state.ApplyConfig(config, document, now);
        }
        finally
        {
            _gate.Release();
        }
        loop.Wake();
    }
}
