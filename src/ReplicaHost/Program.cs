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
// The replica API needs the cluster token; health probes and simulated replicas' traffic are open.
app.UseClusterToken(ReplicasApi.RequiresClusterToken);
app.MapDefaultEndpoints();
app.MapReplicasApi();
app.MapSimulatedReplicasApi();
await app.RunAsync();
return 0;
