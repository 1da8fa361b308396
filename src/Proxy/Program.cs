using ServeAspire.Proxy.Apis;
using ServeAspire.Proxy.Extensions;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddProxyServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapProxyAdminApi();
app.MapServeIngress();
await app.RunAsync();
