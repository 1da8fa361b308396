using ServeAspire.Proxy.Apis;
using ServeAspire.Proxy.Extensions;

// Slim: no HTTPS, QUIC or IIS wiring the proxy never uses (less to load and compile; see Proxy.csproj).
var builder = WebApplication.CreateSlimBuilder(args);
builder.AddServiceDefaults();
builder.AddProxyServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapProxyAdminApi();
app.MapServeIngress();
await app.RunAsync();
