using ServeAspire.Controller.Apis;
using ServeAspire.Controller.Extensions;
using ServeAspire.Security;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddControllerServices();

var app = builder.Build();
// Every /api/* call and /metrics carry the cluster token; health endpoints stay open for probes.
app.UseClusterToken(path => path.StartsWithSegments("/api") || path.StartsWithSegments("/metrics"));
app.UseLeaderForwarding();
app.MapDefaultEndpoints();
app.MapLeadershipApi();
app.MapApplicationsApi();
app.MapActorsApi();
app.MapNodesApi();
app.MapPrometheusMetrics("/metrics");
await app.RunAsync();
