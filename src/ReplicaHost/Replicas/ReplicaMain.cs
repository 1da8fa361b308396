using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using ServeAspire.Runtime;

namespace ServeAspire.ReplicaHost.Replicas;

/// <summary>
/// The entry point of one replica process (Ray's ReplicaActor): serves HTTP on a loopback port of
/// its own, constructs the deployment class once, and reports to its node through marker lines
/// on stdout. It exits when its node's stdin pipe closes, so it cannot outlive the node.
/// </summary>
internal static partial class ReplicaMain
{
    public static async Task<int> RunAsync(string[] args)
    {
        var opts = ParseArgs(args);
        var reconfigures = System.Threading.Channels.Channel.CreateUnbounded<(string Version, string Json)>(new() { SingleReader = true });
        WatchParent(reconfigures.Writer);

        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://{opts.Bind}:0");
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(opts.GracefulShutdownTimeoutS));
        builder.AddServiceDefaults();
        var app = builder.Build();

        IDeployment? instance = null;
        IHealthCheckedDeployment? healthChecked = null;

        app.MapGet("/-/healthz", () => Volatile.Read(ref instance) is null
            ? Results.Text("replica is starting", statusCode: 503)
            : Results.Text("success"));
        app.MapGet("/-/check_health", async (CancellationToken ct) =>
        {
            if (Volatile.Read(ref instance) is null) return Results.Text("replica is starting", statusCode: 503);
            if (healthChecked is null) return Results.Text("success");
            try
            {
                await healthChecked.CheckHealthAsync().WaitAsync(ct);
                return Results.Text("success");
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                return Results.Text($"{ex.GetType().Name}: {ex.Message}", statusCode: 500);
            }
        });
        // The warm-up's target (see WarmUpAsync): the same result writer a deployment's string answer takes.
        app.MapGet("/-/warmup", (HttpContext ctx) => WriteResultAsync(ctx, "warm"));
        app.MapFallback("{**path}", async (HttpContext ctx) =>
        {
            var target = Volatile.Read(ref instance);
            if (target is null)
            {
                ctx.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                await ctx.Response.WriteAsync("replica is starting");
                return;
            }
            var result = await target.CallAsync(ctx.Request, ctx.RequestAborted);
            await WriteResultAsync(ctx, result);
        });

        await app.StartAsync();
        var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Console.WriteLine(ReplicaProcess.ListeningMarker + url);

        var catalog = new DeploymentCatalog();
        var info = catalog.Resolve(opts.ImportPath, out var error);
        if (info is null)
        {
            Console.WriteLine(ReplicaProcess.FailedMarker + error);
            return 2;
        }
        try
        {
            // The constructor may block for a long time (model loading): run it off the request threads.
            var created = await Task.Factory.StartNew(() => (IDeployment)Activator.CreateInstance(info.Type)!, TaskCreationOptions.LongRunning);
            // Ray calls reconfigure with the initial user_config before the replica serves: so do we.
            if (opts.UserConfigVersion is { } wanted)
            {
                var (version, json) = await reconfigures.Reader.ReadAsync();
                if (version != wanted) throw new InvalidOperationException($"expected user_config version {wanted}, got {version}");
                await ReconfigureAsync(created, json, app.Lifetime.ApplicationStopping);
                Console.WriteLine(ReplicaProcess.ReconfiguredMarker + version);
            }
            healthChecked = created as IHealthCheckedDeployment;
            Volatile.Write(ref instance, created);
        }
        catch (Exception ex)
        {
            var root = ex is System.Reflection.TargetInvocationException { InnerException: { } inner } ? inner : ex;
            Console.WriteLine(ReplicaProcess.FailedMarker + $"{root.GetType().Name}: {root.Message}".ReplaceLineEndings(" "));
            return 1;
        }
        await WarmUpAsync(url, app.Lifetime.ApplicationStopping);
        Console.WriteLine(ReplicaProcess.ReadyMarker + url);
        _ = ApplyReconfiguresAsync(instance!, reconfigures.Reader, app.Lifetime.ApplicationStopping);
        await app.WaitForShutdownAsync();
        return 0;
    }

    /// <summary>
    /// Requests through this replica's own HTTP pipeline before it reports ready, so the first requests the
    /// proxies send do not pay for a cold process: a new replica is handed a full share of traffic at once,
    /// and its first answers took 160–520 ms under load while Kestrel's connection, parsing and response paths
    /// were jitted (issue 36). Several connections at once, a few rounds, bounded to 2 s; it calls no user code,
    /// and a warm-up that fails only means a colder start.
    /// </summary>
    private static async Task WarmUpAsync(string url, CancellationToken ct)
    {
        const int connections = 4, rounds = 6;
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bound.CancelAfter(TimeSpan.FromSeconds(2));
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = connections, UseProxy = false });
        var target = new Uri(new Uri(url), "/-/warmup");
        try
        {
            for (var round = 0; round < rounds; round++)
                await Task.WhenAll(Enumerable.Range(0, connections).Select(async _ =>
                {
                    using var response = await http.GetAsync(target, bound.Token);
                    await response.Content.ReadAsByteArrayAsync(bound.Token);
                }));
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException) { }
    }

    /// <summary>Later user_configs, one at a time, in the order the node sent them; requests keep being served meanwhile.</summary>
    private static async Task ApplyReconfiguresAsync(IDeployment target, System.Threading.Channels.ChannelReader<(string Version, string Json)> reader, CancellationToken ct)
    {
        try
        {
            await foreach (var (version, json) in reader.ReadAllAsync(ct))
            {
                try
                {
                    await ReconfigureAsync(target, json, ct);
                    Console.WriteLine(ReplicaProcess.ReconfiguredMarker + version);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // The replica keeps its previous config and keeps serving; the controller shows the error.
                    Console.WriteLine(ReplicaProcess.ReconfigureFailedMarker + version + " " + $"{ex.GetType().Name}: {ex.Message}".ReplaceLineEndings(" "));
                }
            }
        }
        catch (OperationCanceledException) { }
    }

    private static async Task ReconfigureAsync(IDeployment target, string json, CancellationToken ct)
    {
        if (target is not IReconfigurable reconfigurable)
            throw new InvalidOperationException($"{target.GetType().FullName} does not implement {nameof(IReconfigurable)}");
        using var doc = JsonDocument.Parse(json);
        await reconfigurable.ReconfigureAsync(doc.RootElement.Clone(), ct);
    }

    /// <summary>
    /// Writes a deployment's return value. Results whose size is known up front get a Content-Length
    /// (not chunked), which saves the framing here and lets the proxy copy the body in one piece.
    /// </summary>
    private static async Task WriteResultAsync(HttpContext ctx, object? result)
    {
        switch (result)
        {
            case null:
                ctx.Response.StatusCode = StatusCodes.Status204NoContent;
                break;
            case IResult r:
                await r.ExecuteAsync(ctx);
                break;
            case string s:
                ctx.Response.ContentType = "text/plain; charset=utf-8";
                await WriteBytesAsync(ctx, System.Text.Encoding.UTF8.GetBytes(s));
                break;
            case byte[] bytes:
                ctx.Response.ContentType = "application/octet-stream";
                await WriteBytesAsync(ctx, bytes);
                break;
            default:
                ctx.Response.ContentType = "application/json";
                await WriteBytesAsync(ctx, JsonSerializer.SerializeToUtf8Bytes(result, result.GetType(), ServeAspire.Model.SerializerOptions.Default));
                break;
        }
    }

    private static Task WriteBytesAsync(HttpContext ctx, byte[] body)
    {
        ctx.Response.ContentLength = body.Length;
        return ctx.Response.Body.WriteAsync(body.AsMemory()).AsTask();
    }

    /// <summary>
    /// Exit as soon as the node is gone: its end of our stdin closes (EOF) even on kill -9; the
    /// parent-pid check covers a stdin that was not a pipe. The same pipe carries the node's
    /// reconfigure commands (one line each), so user_config needs no port of its own.
    /// </summary>
    private static void WatchParent(System.Threading.Channels.ChannelWriter<(string Version, string Json)> reconfigures)
    {
        var parent = GetParentPid();
        var stdin = new Thread(() =>
        {
            try
            {
                using var input = new StreamReader(Console.OpenStandardInput());
                while (input.ReadLine() is { } line)
                {
                    var parts = line.Split(' ', 3);
                    if (parts.Length != 3 || parts[0] != ReplicaProcess.ReconfigureCommand) continue;
                    try { reconfigures.TryWrite((parts[1], System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(parts[2])))); }
                    catch (FormatException) { }
                }
            }
            catch (IOException) { }
            System.Diagnostics.Process.GetCurrentProcess().Kill(); // hard exit: no graceful drain without a node
        }) { IsBackground = true, Name = "parent-watch" };
        stdin.Start();
        var poll = new Thread(() =>
        {
            while (true)
            {
                Thread.Sleep(1000);
                if (GetParentPid() != parent) System.Diagnostics.Process.GetCurrentProcess().Kill();
            }
        }) { IsBackground = true, Name = "parent-poll" };
        poll.Start();
    }

    [LibraryImport("libc", EntryPoint = "getppid")]
    private static partial int GetParentPid();

    private sealed record Options(string ReplicaId, string Application, string Deployment, string ImportPath, string NodeId, double GracefulShutdownTimeoutS, string Bind, string? UserConfigVersion);

    private static Options ParseArgs(string[] args)
    {
        var map = new Dictionary<string, string>();
        for (var i = 0; i + 1 < args.Length; i += 2) map[args[i].TrimStart('-')] = args[i + 1];
        string Get(string k) => map.TryGetValue(k, out var v) ? v : throw new ArgumentException($"missing --{k}");
        return new Options(Get("replica-id"), Get("application"), Get("deployment"), Get("import-path"), Get("node-id"),
            map.TryGetValue("graceful-shutdown-timeout-s", out var g) ? double.Parse(g, CultureInfo.InvariantCulture) : 20,
            map.TryGetValue("bind", out var b) ? b : "127.0.0.1",
            map.TryGetValue("user-config-version", out var ucv) ? ucv : null);
    }
}
