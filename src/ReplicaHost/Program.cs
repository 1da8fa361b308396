using ServeAspire.ReplicaHost.Apis;
using ServeAspire.ReplicaHost.Extensions;
using ServeAspire.ReplicaHost.Replicas;

// One executable, two roles: the node agent, and (with "replica" first) one replica process it starts.
if (args.Length > 0 && args[0] == ReplicaProcess.ReplicaVerb)
    return await ReplicaMain.RunAsync(args[1..]);

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddNodeServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapReplicasApi();
await app.RunAsync();
return 0;
