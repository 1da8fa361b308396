using System.Text.Json;
using System.Text.Json.Nodes;
using ServeAspire.Controller.Checkpoints;
using ServeAspire.Controller.Deployments;
using ServeAspire.Controller.Proxies;
using ServeAspire.Model;
using ServeAspire.Runtime;
using StackExchange.Redis;

namespace ServeAspire.Controller.Apis;

/// <summary>Builds Ray's ServeInstanceDetails and the State API's actor list from the controller's state.</summary>
internal sealed class ServeDetailsBuilder(DeploymentStateManager state, IClusterStore store, ProxyStateManager proxyStates, ActorKiller killer)
{
    public const string ControllerActorName = "SERVE_CONTROLLER_ACTOR";
    private static readonly string ControllerActorId = Guid.NewGuid().ToString("N");

    public async Task<ServeInstanceDetails> BuildAsync(CancellationToken ct)
    {
        var proxies = await ProxiesAsync(ct);
        var config = state.Config;
        var apps = state.Read((apps, _) => apps.Values.ToDictionary(a => a.Name, Application));
        var targetGroups = apps.Values.Where(a => a.RoutePrefix is not null).Select(a => new TargetGroup(
            proxies.Where(p => p.Alive).Select(p => new Target("127.0.0.1", new Uri(p.Registration.Address).Port, p.Registration.InstanceId, $"SERVE_PROXY_ACTOR-{p.Registration.Name}")).ToList(),
            a.RoutePrefix!, "HTTP", a.Name)).ToList();
        return new ServeInstanceDetails(
            new ActorDetails("controller", "127.0.0.1", ControllerActorId, ControllerActorName, Environment.ProcessId),
            "EveryNode",
            new HttpOptionsDetails(config.HttpOptions.Host, config.HttpOptions.Port, config.HttpOptions.RequestTimeoutS),
            proxies.ToDictionary(p => p.Registration.Name, p => new ProxyDetails(
                p.Registration.Name, "127.0.0.1", p.Registration.InstanceId, $"SERVE_PROXY_ACTOR-{p.Registration.Name}", p.Registration.Pid,
                proxyStates.StatusFor(p.Registration, p.Alive),
                p.Registration.Address)),
            "MULTI_APP",
            apps,
            null,
            targetGroups);
    }

    private static string KilledClass(string kind) => kind switch
    {
        ActorKinds.Proxy => "ProxyActor",
        ActorKinds.Controller => "ServeController",
        _ => "NodeAgent",
    };

    private async Task<IReadOnlyList<(ProxyRegistration Registration, bool Alive)>> ProxiesAsync(CancellationToken ct)
    {
        try { return await store.GetProxiesAsync(ct); }
        catch (Exception ex) when (ex is RedisException or TimeoutException) { return []; }
    }

    private static ApplicationDetails Application(ApplicationState app)
    {
        var (status, message) = app.Status();
        return new ApplicationDetails(
            app.Name, app.Config.RoutePrefix, null, status, message, app.DeployedAt.ToUnixTimeMilliseconds() / 1000.0,
            app.Config.Submitted.DeepClone(), "declarative",
            app.Deployments.Values.ToDictionary(d => d.Spec.Name, Deployment), false);
    }

    private static DeploymentDetails Deployment(DeploymentState dep)
    {
        var config = (JsonObject)JsonSerializer.SerializeToNode(dep.Spec, SerializerOptions.Default)!;
        config.Remove("import_path");
        // user_config as the mapping it was given, not its JSON text; env_vars show in the app's runtime_env.
        config["user_config"] = dep.Spec.UserConfig is { } uc ? JsonNode.Parse(uc) : null;
        config.Remove("env_vars");
        return new DeploymentDetails(dep.Spec.Name, dep.Status, dep.Trigger, dep.Message, config, dep.Deleting ? 0 : dep.TargetReplicas,
            new Dictionary<string, double> { ["CPU"] = 1 },
            dep.Replicas.All.OrderBy(r => r.ReplicaId, StringComparer.Ordinal).Select(r => new ReplicaDetails(
                r.NodeId, "127.0.0.1", r.ReplicaId, r.ActorName, r.ReplicaId, r.State, r.Pid, r.StartTime.ToUnixTimeMilliseconds() / 1000.0,
                r.CodeVersion, r.UserConfigVersion, r.State == ReplicaState.STOPPING ? r.StopReason : null)).ToList(),
            dep.Spec.Autoscaling is { } a
                ? new AutoscalingDetails(a.MinReplicas, a.MaxReplicas, dep.TargetReplicas, dep.Running, dep.ScalingDecision, dep.ScalingDecidedAt?.ToUnixTimeMilliseconds() / 1000.0)
                : null);
    }

    /// <summary>Every actor: the controller, each proxy, each replica (live, then recently dead).</summary>
    public async Task<IReadOnlyList<ActorInfo>> ActorsAsync(CancellationToken ct)
    {
        var actors = new List<ActorInfo>
        {
            new(ControllerActorId, "ServeController", ControllerActorName, "ALIVE", Environment.ProcessId, "controller", "serve", null, null),
        };
        foreach (var (p, alive) in await ProxiesAsync(ct))
            actors.Add(new ActorInfo(p.InstanceId, "ProxyActor", $"SERVE_PROXY_ACTOR-{p.Name}", alive ? "ALIVE" : "DEAD", p.Pid, p.Name, "serve", p.Address,
                alive ? null : "heartbeat expired"));
        actors.AddRange(state.Read((apps, dead) =>
            apps.Values.SelectMany(a => a.Deployments.Values).SelectMany(d => d.Replicas.All)
                .OrderBy(r => r.Deployment).ThenBy(r => r.ReplicaId, StringComparer.Ordinal)
                .Select(r => new ActorInfo(r.ReplicaId, $"ServeReplica:{r.Deployment}", r.ActorName,
                    r.State == ReplicaState.STARTING ? (r.Restarts > 0 ? "RESTARTING" : "PENDING_CREATION") : "ALIVE", r.Pid, r.NodeId, "serve", r.Url, null,
                    r.Restarts, r.LastExitCode))
                .Concat(dead.Select(d => new ActorInfo(d.ReplicaId, $"ServeReplica:{d.Deployment}", d.ActorName, "DEAD", d.Pid, d.NodeId, "serve", null, d.Reason,
                    d.Restarts, d.ExitCode)))
                .ToList()));
        // Proxies, node agents and controllers killed through the API: their supervisor restarted them under a new id.
        actors.AddRange((await killer.KilledAsync()).Select(k => new ActorInfo(k.ActorId ?? k.Name, KilledClass(k.Kind), k.Kind == ActorKinds.Proxy ? $"SERVE_PROXY_ACTOR-{k.Name}" : k.Name,
            "DEAD", k.Pid, k.NodeId, "serve", null, k.DeathCause, 0, KillSwitch.ExitCode)));
        return actors;
    }
}
