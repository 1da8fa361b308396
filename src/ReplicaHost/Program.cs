using ServeAspire.ReplicaHost.Apis;
using ServeAspire.ReplicaHost.Extensions;
using ServeAspire.ReplicaHost.Nodes;
using ServeAspire.ReplicaHost.Replicas;
using ServeAspire.Security;

// One executable, two roles: the node agent, and (with "replica" first) one replica process it starts.
if (args.Length > 0 && args[0] == ReplicaProcess.ReplicaVerb)
    return await ReplicaMain.RunAsync(args[1..]);

// The node holds credentials its children (user code, same user) must not read from /proc.
ProcessHardening.MakeNonDumpable();
var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddNodeServices();

var app = builder.Build();
// Only health probes are open; the replica API needs the cluster token.
app.UseClusterToken(path => !path.StartsWithSegments("/health") && !path.StartsWithSegments("/alive"));
app.MapDefaultEndpoints();
app.MapReplicasApi();
await app.RunAsync();
return 0;
