using ServeAspire.Controller.Apis;
using ServeAspire.Controller.Extensions;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddControllerServices();

var app = builder.Build();
app.UseLeaderForwarding();
app.MapDefaultEndpoints();
app.MapLeadershipApi();
app.MapApplicationsApi();
app.MapActorsApi();
app.MapNodesApi();
await app.RunAsync();
