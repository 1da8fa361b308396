using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Aspire's shared service defaults: OpenTelemetry (OTLP), health endpoints, service discovery and
/// the standard resilience handler on service-to-service HTTP clients.
/// </summary>
public static class Extensions
{
    private const string HealthEndpointPath = "/health";
    private const string AlivenessEndpointPath = "/alive";

    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.ConfigureOpenTelemetry();
        builder.AddDefaultHealthChecks();
        builder.Services.AddServiceDiscovery();
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            http.AddStandardResilienceHandler(o =>
            {
                // A retried POST could start a replica twice or apply a config twice.
                o.Retry.DisableForUnsafeHttpMethods();
            })
            // One circuit breaker per host: one dead node must not open the circuit for the others.
            .SelectPipelineByAuthority();
            http.AddServiceDiscovery();
        });
        return builder;
    }

    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var sampling = builder.Configuration.GetSection(TraceSamplingOptions.Section).Get<TraceSamplingOptions>() ?? new TraceSamplingOptions();
        // Checked here, before anything starts: a bad ratio must not silently trace everything or nothing.
        sampling.Validate();
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });
        builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter(ServeTelemetry.MeterName))
            .WithTracing(tracing => tracing
                // Parent-based: a request keeps the decision of the service that started its trace,
                // so a sampled request is one trace proxy → replica (or proxy → controller).
                .SetSampler(ReservoirRatioSampler.ParentBased(sampling))
                // Before the exporter (UseOtlpExporter below registers it later), so it sees the flag set here.
                .AddProcessor(new KeepErrorsAndSlowProcessor(sampling))
                .AddSource(builder.Environment.ApplicationName)
                .AddSource(ServeTelemetry.SourcePrefix + "*")
                .AddAspNetCoreInstrumentation(t =>
                    // Probes would drown the traces.
                    t.Filter = ctx => !ctx.Request.Path.StartsWithSegments(HealthEndpointPath)
                        && !ctx.Request.Path.StartsWithSegments(AlivenessEndpointPath)
                        && !ctx.Request.Path.StartsWithSegments("/-"))
                .AddHttpClientInstrumentation());
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
            builder.Services.AddOpenTelemetry().UseOtlpExporter();
        return builder;
    }

    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy(), ["live"]);
        return builder;
    }

    /// <summary>
    /// <c>/health</c> (all checks) and <c>/alive</c> (liveness only), in every environment: the
    /// AppHost and Kubernetes probes depend on them.
    /// </summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.MapHealthChecks(HealthEndpointPath);
        app.MapHealthChecks(AlivenessEndpointPath, new HealthCheckOptions { Predicate = r => r.Tags.Contains("live") });
        return app;
    }
}
