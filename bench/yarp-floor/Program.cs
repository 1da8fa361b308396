// Usage: YarpFloor LISTEN_URL REPLICA_URL... : forwards every request to the replicas in turn.
using System.Net;
using Yarp.ReverseProxy.Forwarder;

var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.UseUrls(args[0]);
builder.Services.AddHttpForwarder();
var app = builder.Build();
var replicas = args[1..];
var client = new HttpMessageInvoker(new SocketsHttpHandler
{
    UseProxy = false,
    AllowAutoRedirect = false,
    AutomaticDecompression = DecompressionMethods.None,
    UseCookies = false,
});
var forwarder = app.Services.GetRequiredService<IHttpForwarder>();
var next = 0;
app.Run(async context => await forwarder.SendAsync(context, replicas[(uint)Interlocked.Increment(ref next) % replicas.Length], client));
app.Run();
