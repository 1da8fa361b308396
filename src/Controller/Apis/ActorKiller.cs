using System.Text.Json;
using Microsoft.Extensions.Options;
using ServeAspire.Controller.Checkpoints;
using ServeAspire.Controller.Deployments;
using ServeAspire.Controller.Leadership;
using ServeAspire.Controller.Nodes;
using ServeAspire.Model;
using ServeAspire.Runtime;
using ServeAspire.Store;
using StackExchange.Redis;

namespace ServeAspire.Controller.Apis;

/// <summary>What a kill did (the answer of <c>POST /api/actors/{name}/kill</c>).</summary>
public sealed record KillResult(string Name, string Kind, bool NoRestart, string Message, string? ReplicaId = null, int? Pid = null);

/// <summary>A proxy, node or controller killed through the API: kept in the store so any leader's State API shows the death cause.</summary>
public sealed record KilledActor(string Name, string Kind, string? ActorId, int? Pid, string? NodeId, DateTimeOffset KilledAt, string DeathCause);

/// <summary>The kinds of actor the kill API reaches.</summary>
public static class ActorKinds
{
    public const string Replica = "replica";
    public const string Proxy = "proxy";
    public const string Node = "node";
    public const string Controller = "controller";
}

/// <summary>
/// Ray's <c>ray.kill(actor, no_restart=…)</c> for every actor of the cluster. A replica is killed by
/// its node (SIGKILL), fenced like every node call: without restart the controller replaces it under a
/// new name; with restart its node starts it again under the same name. A proxy, node agent or
/// controller kills itself on an order sent on its kill channel, and its supervisor (the AppHost's
/// restart policy, Kubernetes) brings it back, as after a crash.
/// </summary>
internal sealed class ActorKiller(
    DeploymentStateManager state,
    IClusterStore store,
    INodeClient nodes,
    LeaderState leader,
    IConnectionMultiplexer redis,
    StoreKeys keys,
    IOptions<ControllerOptions> options,
    TimeProvider time,
    ILogger<ActorKiller> logger)
{
    /// <summary>How many killed proxies/nodes/controllers the State API remembers.</summary>
    public const int KilledHistory = 100;

    /// <summary>The prefix of a proxy's actor name in the State API.</summary>
    public const string ProxyActorPrefix = "SERVE_PROXY_ACTOR-";

    /// <param name="noRestart">Null: not given (replicas then take Ray's default, true).</param>
    /// <param name="onSelf">Called when the target is this controller: arrange to die once the answer is sent.</param>
    public async Task<(KillResult? Result, int Status, string? Error)> KillAsync(string name, bool? noRestart, Action onSelf, CancellationToken ct)
    {
        var cause = $"killed by the kill API (POST /api/actors/{name}/kill, no_restart={(noRestart ?? true ? "true" : "false")})";
        var replica = state.Read((apps, _) => apps.Values.SelectMany(a => a.Deployments.Values).SelectMany(d => d.Replicas.Alive)
            .FirstOrDefault(r => r.ReplicaId == name || r.ActorName == name));
        if (replica is not null) return await KillReplicaAsync(name, replica, noRestart ?? true, cause, ct);

        // Proxies, nodes and controllers: restarted by their supervisor, never "not restarted" by us.
        if (noRestart == true)
            return (null, 400, $"no_restart=true applies to replicas only: '{name}' is not a live replica; a proxy, node agent or controller is restarted by its supervisor (the AppHost's restart policy, or Kubernetes): send no_restart=false");
        var target = name.StartsWith(ProxyActorPrefix, StringComparison.Ordinal) ? name[ProxyActorPrefix.Length..] : name;
        var self = options.Value.EffectiveName;
        if (name == ServeDetailsBuilder.ControllerActorName) target = self;

        var (kind, actorId, pid, nodeId) = await IdentifyAsync(target, self, ct);
        if (kind == ActorKinds.Controller && target == self)
        {
            // This controller: answer first, then die as a crash would; the standby takes over.
            await RememberAsync(new KilledActor(target, kind, actorId, pid, null, time.GetUtcNow(), cause));
            logger.LogWarning("Controller {Controller} (pid {Pid}) kills itself after answering: {Cause}", self, Environment.ProcessId, cause);
            onSelf();
            return (new KillResult(target, kind, false, $"controller {target} (pid {pid}) dies after this answer; the standby takes over and its supervisor restarts it", Pid: pid), 200, null);
        }
        long receivers;
        try
        {
            var order = JsonSerializer.Serialize(new KillOrder(target, cause, self), SerializerOptions.Default);
            receivers = await redis.GetSubscriber().PublishAsync(RedisChannel.Literal(keys.KillChannel(target)), order);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return (null, 503, $"the store is unreachable, so the kill order for '{target}' could not be sent: {ex.Message}");
        }
        if (receivers == 0)
            return (null, 404, kind is null
                ? $"no live actor named '{name}': give a replica id or actor name (GET /api/actors), a proxy (proxy-0), a node (node-0), a controller (controller-0) or {ServeDetailsBuilder.ControllerActorName}"
                : $"{kind} '{target}' is registered but nothing listens on its kill channel: it is not running");
        // Only proxies, node agents and controllers listen on kill channels, and controllers do not register.
        kind ??= ActorKinds.Controller;
        await RememberAsync(new KilledActor(target, kind, actorId, pid, nodeId, time.GetUtcNow(), cause));
        logger.LogWarning("Kill order sent to {Kind} {Name} (pid {Pid}): {Cause}", kind, target, pid, cause);
        return (new KillResult(target, kind, false, $"{kind} {target}{(pid is null ? "" : $" (pid {pid})")} was sent a kill order; its supervisor restarts it", Pid: pid), 200, null);
    }

    private async Task<(KillResult?, int, string?)> KillReplicaAsync(string name, ReplicaRecord replica, bool noRestart, string cause, CancellationToken ct)
    {
        var token = leader.Token;
        if (token <= 0) return (null, 503, "this controller does not lead right now; try again");
        var node = (await store.GetNodesAsync(ct)).Where(n => n.Alive && n.Registration.NodeId == replica.NodeId).Select(n => n.Registration).FirstOrDefault();
        if (node is null) return (null, 503, $"replica {replica.ReplicaId}'s node {replica.NodeId} is not alive: the replica is being replaced already");
        var (info, error) = await nodes.KillReplicaAsync(node, replica.ReplicaId, new KillReplicaRequest(!noRestart, cause), token, ct);
        if (info is null) return (null, 502, error);
        logger.LogWarning("Killed replica {Application}/{Deployment}#{ReplicaId} (pid {Pid}) on node {NodeId}, no_restart {NoRestart}", replica.Application, replica.Deployment, replica.ReplicaId, replica.Pid, replica.NodeId, noRestart);
        var message = noRestart
            ? $"replica {replica.ReplicaId} (pid {replica.Pid}) on {replica.NodeId} was killed; the controller starts a replacement under a new name"
            : $"replica {replica.ReplicaId} (pid {replica.Pid}) on {replica.NodeId} was killed and restarts in place as pid {info.Pid} under the same name";
        return (new KillResult(replica.ActorName, ActorKinds.Replica, noRestart, message, replica.ReplicaId, info.Pid), 200, null);
    }

    /// <summary>Which kind of actor <paramref name="name"/> is, from the store's registrations (null: none by that name).</summary>
    private async Task<(string? Kind, string? ActorId, int? Pid, string? NodeId)> IdentifyAsync(string name, string self, CancellationToken ct)
    {
        if (name == self) return (ActorKinds.Controller, leader.InstanceId, Environment.ProcessId, null);
        if ((await store.GetProxiesAsync(ct)).FirstOrDefault(p => p.Alive && p.Registration.Name == name) is { Registration: { } proxy })
            return (ActorKinds.Proxy, proxy.InstanceId, proxy.Pid, proxy.Name);
        if ((await store.GetNodesAsync(ct)).FirstOrDefault(n => n.Alive && n.Registration.NodeId == name) is { Registration: { } node })
            return (ActorKinds.Node, node.InstanceId, node.Pid, node.NodeId);
        return (null, null, null, null); // maybe another controller: they do not register, but each listens on its own channel
    }

    private async Task RememberAsync(KilledActor killed)
    {
        try
        {
            var db = redis.GetDatabase();
            await db.ListLeftPushAsync(keys.KilledActors, JsonSerializer.Serialize(killed, SerializerOptions.Default));
            await db.ListTrimAsync(keys.KilledActors, 0, KilledHistory - 1);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            logger.LogWarning("Could not record the kill of {Kind} {Name} in the store: {Error}", killed.Kind, killed.Name, ex.Message);
        }
    }

    /// <summary>Killed proxies, nodes and controllers, newest first (empty when the store does not answer).</summary>
    public async Task<IReadOnlyList<KilledActor>> KilledAsync()
    {
        try
        {
            var values = await redis.GetDatabase().ListRangeAsync(keys.KilledActors, 0, KilledHistory - 1);
            return values.Select(v => JsonSerializer.Deserialize<KilledActor>(v.ToString(), SerializerOptions.Default)).OfType<KilledActor>().ToList();
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or JsonException)
        {
            return [];
        }
    }
}
