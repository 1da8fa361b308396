using Microsoft.Extensions.Configuration;

namespace ServeAspire.AppHost;

/// <summary>AppHost settings (section <c>Serve</c>; override with <c>--Serve:Nodes 4</c> or <c>Serve__Nodes=4</c>).</summary>
internal sealed class ServeOptions
{
    /// <summary>Redis key namespace, so several clusters can share one Redis.</summary>
    public string Cluster { get; set; } = "default";
    public int RedisPort { get; set; } = 6379;
    /// <summary>
    /// The local store (see docs/store.md): <c>single</c> (one redis-server, the default), <c>tls</c> (the same, TLS only,
    /// with a generated CA) or <c>sentinel</c> (a primary, two replicas and three Sentinels).
    /// </summary>
    public string Store { get; set; } = "single";
    public StoreMode StoreMode => Enum.Parse<StoreMode>(Store, ignoreCase: true);
    /// <summary>With Serve:Store=sentinel, Sentinel i listens on SentinelPort + i (default RedisPort + 20000: 26379 beside 6379).</summary>
    public int SentinelPort { get; set; }
    public int ControllerPort { get; set; } = 8265;
    /// <summary>proxy-i listens on ProxyBasePort + i.</summary>
    public int ProxyBasePort { get; set; } = 8000;
    public int Proxies { get; set; } = 2;
    /// <summary>Controller instances (one leads, the others stand by).</summary>
    public int Controllers { get; set; } = 2;
    /// <summary>Restart a controller, proxy, node or redis that exits unexpectedly (Kubernetes' restartPolicy: Always).</summary>
    public bool RestartPolicy { get; set; } = true;
    /// <summary>First restart delay (doubles per crash up to 30 s).</summary>
    public double RestartDelaySeconds { get; set; } = 1;
    public int Nodes { get; set; } = 3;
    /// <summary>The AppHost exits non-zero when its resources are not all running and healthy this long after it starts.</summary>
    public double StartTimeoutSeconds { get; set; } = 120;
    /// <summary>Where Redis keeps its AOF and config; survives AppHost restarts. Default: &lt;repo&gt;/.state.</summary>
    public string StateDir { get; set; } = "";
    /// <summary>The Serve config applied once the controller is healthy (KubeRay's serveConfigV2). Default: samples/serve.yaml.</summary>
    public string ConfigFile { get; set; } = "";
    public bool ApplyConfigOnStart { get; set; } = true;
    /// <summary><c>token</c> (default): the control plane requires the cluster token; <c>disabled</c> turns that off (logged as a warning by every service).</summary>
    public string AuthMode { get; set; } = "token";
    public bool AuthDisabled => string.Equals(AuthMode, "disabled", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The proxy compiled to native code (<c>dotnet publish src/Proxy -p:ServeNative=true</c>; <c>./run.sh</c> and the
    /// bench scripts build it): run that executable for each proxy instead of the project's JIT build. Empty: the project.
    /// </summary>
    public string ProxyExecutable { get; set; } = "";

    public string ControllerUrl => $"http://127.0.0.1:{ControllerPort}";

    public static ServeOptions From(IConfiguration configuration)
    {
        var s = configuration.GetSection("Serve");
        var o = new ServeOptions();
        int Int(string key, int fallback) => int.TryParse(s[key], out var v) ? v : fallback;
        o.Cluster = s[nameof(Cluster)] is { Length: > 0 } c ? c : o.Cluster;
        o.RedisPort = Int(nameof(RedisPort), o.RedisPort);
        o.Store = s[nameof(Store)] is { Length: > 0 } store ? store : o.Store;
        if (!Enum.TryParse<StoreMode>(o.Store, ignoreCase: true, out _) || int.TryParse(o.Store, out _))
            throw new InvalidOperationException($"Serve:Store must be 'single' (the default), 'tls' or 'sentinel', got '{o.Store}'");
        o.SentinelPort = Int(nameof(SentinelPort), o.RedisPort + 20000);
        o.ControllerPort = Int(nameof(ControllerPort), o.ControllerPort);
        o.ProxyBasePort = Int(nameof(ProxyBasePort), o.ProxyBasePort);
        o.Proxies = Int(nameof(Proxies), o.Proxies);
        o.Controllers = Int(nameof(Controllers), o.Controllers);
        o.RestartPolicy = !bool.TryParse(s[nameof(RestartPolicy)], out var restart) || restart;
        o.RestartDelaySeconds = double.TryParse(s[nameof(RestartDelaySeconds)], System.Globalization.CultureInfo.InvariantCulture, out var delay) ? delay : o.RestartDelaySeconds;
        o.Nodes = Int(nameof(Nodes), o.Nodes);
        if (s[nameof(StartTimeoutSeconds)] is { Length: > 0 } startTimeout)
            o.StartTimeoutSeconds = double.TryParse(startTimeout, System.Globalization.CultureInfo.InvariantCulture, out var t) && t is >= 1 and <= 3600
                ? t : throw new InvalidOperationException($"Serve:StartTimeoutSeconds must be a number of seconds from 1 to 3600, got '{startTimeout}'");
        o.StateDir = s[nameof(StateDir)] ?? "";
        o.ConfigFile = s[nameof(ConfigFile)] ?? "";
        o.ProxyExecutable = s[nameof(ProxyExecutable)] ?? "";
        if (o.ProxyExecutable.Length > 0 && !File.Exists(o.ProxyExecutable))
            throw new InvalidOperationException($"Serve:ProxyExecutable '{o.ProxyExecutable}' does not exist (scripts/build-native-proxy.sh builds it)");
        o.ApplyConfigOnStart = !bool.TryParse(s[nameof(ApplyConfigOnStart)], out var apply) || apply;
        o.AuthMode = s[nameof(AuthMode)] is { Length: > 0 } mode ? mode : o.AuthMode;
        if (!o.AuthDisabled && !string.Equals(o.AuthMode, "token", StringComparison.OrdinalIgnoreCase))
            throw new InvalidOperationException($"Serve:AuthMode must be 'token' (the default) or 'disabled', got '{o.AuthMode}'");
        return o;
    }
}

/// <summary>The local store's shape (<c>Serve:Store</c>).</summary>
internal enum StoreMode { Single, Tls, Sentinel }
