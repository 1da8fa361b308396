using Microsoft.AspNetCore.Builder;
using ServeAspire.Model;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace ServeAspire.Security;

/// <summary>Bearer-token check for a service's control-plane endpoints (401 with a JSON reason otherwise).</summary>
public static partial class ClusterTokenAuthentication
{
    /// <summary>Registers the token from configuration; fails at startup when it is required and missing.</summary>
    public static void AddClusterToken(this IHostApplicationBuilder builder) =>
        builder.Services.AddSingleton(ClusterToken.FromConfiguration(builder.Configuration));

    /// <summary>Requires the cluster token on every request whose path <paramref name="isProtected"/> selects.</summary>
    public static IApplicationBuilder UseClusterToken(this IApplicationBuilder app, Func<PathString, bool> isProtected)
    {
        var token = app.ApplicationServices.GetRequiredService<ClusterToken>();
        var logger = app.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ClusterTokenAuthentication).FullName!);
        if (token.Disabled)
        {
            Log.Disabled(logger, ClusterToken.AuthModeKey);
            return app;
        }
        return app.Use(async (context, next) =>
        {
            if (!isProtected(context.Request.Path))
            {
                await next(context);
                return;
            }
            var header = context.Request.Headers.Authorization.ToString();
            string? reason = null;
            if (header.Length == 0)
                reason = $"missing credentials: this endpoint requires 'Authorization: Bearer <cluster token>' (clients read {ClusterToken.EnvVariable}, {ClusterToken.PathVariable}, then .state/{ClusterToken.FileName})";
            else if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
                reason = "unsupported Authorization scheme: use 'Bearer <cluster token>'";
            else if (!token.Matches(header.AsSpan(7).Trim()))
                reason = "the bearer token was refused: it is not this cluster's token";
            if (reason is null)
            {
                await next(context);
                return;
            }
            Log.Refused(logger, context.Request.Method, context.Request.Path, context.Connection.RemoteIpAddress?.ToString(), header.Length == 0 ? "missing" : "wrong");
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            context.Response.Headers.WWWAuthenticate = "Bearer realm=\"serve\"";
            await context.Response.WriteAsJsonAsync(new Dictionary<string, string> { ["error"] = reason }, SharedJson.Web.DictionaryStringString);
        });
    }

    private static partial class Log
    {
        [LoggerMessage(900, LogLevel.Warning, "Authentication is DISABLED ({Key}=disabled): anyone who can reach this service's API can deploy code and stop replicas")]
        public static partial void Disabled(ILogger logger, string key);

        [LoggerMessage(901, LogLevel.Warning, "Refused {Method} {Path} from {Remote}: {Problem} cluster token")]
        public static partial void Refused(ILogger logger, string method, string path, string? remote, string problem);
    }
}
