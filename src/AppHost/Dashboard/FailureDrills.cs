using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace ServeAspire.AppHost.Dashboard;

/// <summary>
/// The failure drills behind the dashboard's commands. Each one logs what it did to the resource's log
/// (the command's logger), returns once the fault is made, and follows up in the background with what
/// the cluster did about it (bounded), also in that log.
/// </summary>
internal sealed class FailureDrills(ServeApiClient api, string configFile, TimeProvider time)
{
    public const string KillReplica = "kill-replica";
    public const string KillNode = "kill-node";
    public const string DrainNode = "drain-node";
    public const string FailOver = "fail-over-controller";
    public const string Reapply = "reapply-config";
    public const string Scale = "scale-deployment";

    private static readonly TimeSpan FollowUpFor = TimeSpan.FromSeconds(90);

    /// <summary><c>POST /api/actors/{replica id}/kill</c> with <c>no_restart</c> true, as <c>ray.kill</c>: replaced under a new name.</summary>
    public async Task<ExecuteCommandResult> KillReplicaAsync(string replicaId, ILogger log, CancellationToken ct)
    {
        var replica = ReplicaRows.From(await api.ApplicationsAsync(ct), null).FirstOrDefault(r => r.ReplicaId == replicaId);
        if (replica is not { IsDead: false }) return CommandResults.Failure($"replica {replicaId} is not running");
        var (status, body) = await api.KillActorAsync(replicaId, noRestart: true, ct);
        if (status != HttpStatusCode.OK)
        {
            log.LogError("Drill: the controller refused to kill replica {ReplicaId}: {Status} {Response}", replicaId, (int)status, body);
            return CommandResults.Failure($"{(int)status}: {body}");
        }
        log.LogWarning("Drill: killed replica {Application}/{Deployment}#{ReplicaId} on {NodeId} (pid {Pid}) through the controller (POST /api/actors/{ReplicaId}/kill): {Response}",
            replica.Application, replica.Deployment, replicaId, replica.NodeId, replica.Pid, replicaId, body);
        _ = FollowReplacementAsync([replica], log);
        return CommandResults.Success();
    }

    /// <summary>SIGKILL (<paramref name="drain"/> false) or SIGTERM (true: the agent drains its replicas, then exits) to a node agent.</summary>
    public async Task<ExecuteCommandResult> SignalNodeAsync(string nodeId, bool drain, ILogger log, CancellationToken ct)
    {
        var node = (await api.NodesAsync(ct))?["nodes"]?.AsArray().FirstOrDefault(n => n?["node_id"]?.ToString() == nodeId && n["state"]?.ToString() == "ALIVE");
        if (node?["pid"]?.GetValue<int>() is not { } pid) return CommandResults.Failure($"{nodeId} is not ALIVE in /api/nodes");
        var held = ReplicaRows.From(await api.ApplicationsAsync(ct), null).Where(r => r.NodeId == nodeId).ToList();
        if (!Signals.Send(pid, drain ? Signals.SigTerm : Signals.SigKill)) return CommandResults.Failure($"could not signal {nodeId}'s agent (pid {pid})");
        log.LogWarning("Drill: {Action} node agent {NodeId} (pid {Pid}), which held {Count} replica(s): {Replicas}",
            drain ? "drained (SIGTERM)" : "killed (SIGKILL)", nodeId, pid, held.Count, string.Join(", ", held.Select(r => $"{r.Deployment}#{r.ReplicaId} (pid {r.Pid})")));
        _ = FollowReplacementAsync(held, log);
        return CommandResults.Success();
    }

    /// <summary>Kills the leading controller (SIGKILL to the PID its <c>/api/controller/status</c> reports), then reports the takeover.</summary>
    public async Task<ExecuteCommandResult> FailOverAsync(ILogger log, CancellationToken ct)
    {
        for (var i = 0; i < api.Controllers; i++)
        {
            if (await api.ControllerStatusAsync(i, ct) is not { } s || s["is_leader"]?.GetValue<bool>() != true) continue;
            var pid = s["pid"]!.GetValue<int>();
            var token = s["token"]?.ToString();
            if (!Signals.Send(pid, Signals.SigKill)) return CommandResults.Failure($"could not signal controller-{i} (pid {pid})");
            log.LogWarning("Drill: killed the leading controller, controller-{Index} (pid {Pid}, lease token {Token})", i, pid, token);
            _ = FollowTakeoverAsync(i, log);
            return CommandResults.Success();
        }
        return CommandResults.Failure("no controller leads right now");
    }

    /// <summary>The PUT the AppHost makes at start: the config file, as it is now on disk.</summary>
    public async Task<ExecuteCommandResult> ReapplyAsync(ILogger log, CancellationToken ct)
    {
        var yaml = await File.ReadAllTextAsync(configFile, ct);
        var (status, body) = await api.PutConfigAsync(yaml, "application/yaml", ct);
        if (status != HttpStatusCode.OK)
        {
            log.LogError("Drill: re-applying {ConfigFile} failed: {Status} {Response}", configFile, (int)status, body);
            return CommandResults.Failure(body);
        }
        log.LogInformation("Drill: re-applied {ConfigFile}: {Response}", configFile, body);
        return CommandResults.Success();
    }

    /// <summary>
    /// Sets <c>num_replicas</c> of one deployment in the config the controller runs (Ray's
    /// <c>deployed_app_config</c> of every application, plus <c>http_options</c>), and PUTs it back.
    /// </summary>
    /// <param name="deployment"><c>deployment</c>, or <c>application/deployment</c> when the name is not unique.</param>
    public async Task<ExecuteCommandResult> ScaleAsync(string deployment, int replicas, ILogger log, CancellationToken ct)
    {
        if (replicas < 0) return CommandResults.Failure("the replica count must be 0 or more");
        var details = await api.ApplicationsAsync(ct);
        var (config, error) = ScaledConfig(details, deployment, replicas);
        if (config is null) return CommandResults.Failure(error!);
        var (status, body) = await api.PutConfigAsync(config.ToJsonString(), "application/json", ct);
        if (status != HttpStatusCode.OK)
        {
            log.LogError("Drill: scaling {Deployment} to {Replicas} failed: {Status} {Response}", deployment, replicas, (int)status, body);
            return CommandResults.Failure(body);
        }
        log.LogInformation("Drill: scaled {Deployment} to {Replicas} replica(s) (config PUT: {Response})", deployment, replicas, body);
        return CommandResults.Success();
    }

    /// <summary>The whole config with one deployment's num_replicas changed; or why not.</summary>
    internal static (JsonObject? Config, string? Error) ScaledConfig(JsonNode? details, string deployment, int replicas)
    {
        var apps = details?["applications"] as JsonObject ?? [];
        var parts = deployment.Split('/', 2, StringSplitOptions.TrimEntries);
        var (appFilter, depName) = parts.Length == 2 ? (parts[0], parts[1]) : (null, parts[0]);
        var matches = apps.Where(a => (appFilter is null || a.Key == appFilter) && a.Value?["deployments"]?[depName] is not null).Select(a => a.Key).ToList();
        if (matches.Count == 0) return (null, $"no deployment '{deployment}' (running: {string.Join(", ", apps.SelectMany(a => (a.Value?["deployments"] as JsonObject ?? []).Select(d => $"{a.Key}/{d.Key}")))})");
        if (matches.Count > 1) return (null, $"'{depName}' is in {string.Join(" and ", matches)}: say application/deployment");
        var applications = new JsonArray();
        foreach (var (name, app) in apps)
        {
            var submitted = app?["deployed_app_config"]?.DeepClone() as JsonObject ?? new JsonObject { ["name"] = name };
            if (name == matches[0])
            {
                var deps = submitted["deployments"] as JsonArray ?? (JsonArray)(submitted["deployments"] = new JsonArray());
                var dep = deps.OfType<JsonObject>().FirstOrDefault(d => d["name"]?.ToString() == depName);
                if (dep is null) deps.Add(dep = new JsonObject { ["name"] = depName });
                if (dep["autoscaling_config"] is not null) return (null, $"{name}/{depName} is autoscaled: change its autoscaling_config instead");
                dep["num_replicas"] = replicas;
            }
            applications.Add(submitted);
        }
        var config = new JsonObject { ["applications"] = applications };
        if (details?["http_options"]?.DeepClone() is JsonObject http) config["http_options"] = http;
        return (config, null);
    }

    /// <summary>Logs when the replicas the fault took are replaced: their deployments back at target, RUNNING, without them.</summary>
    private async Task FollowReplacementAsync(IReadOnlyList<ReplicaRow> lost, ILogger log)
    {
        if (lost.Count == 0) return;
        var clock = Stopwatch.StartNew();
        var gone = lost.Select(r => r.ReplicaId).ToHashSet();
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(250), time);
        while (await timer.WaitForNextTickAsync() && clock.Elapsed < FollowUpFor)
        {
            try
            {
                var details = await api.ApplicationsAsync(CancellationToken.None);
                var deployments = lost.Select(r => (r.Application, r.Deployment)).Distinct().ToList();
                var replaced = deployments.All(d => details?["applications"]?[d.Application]?["deployments"]?[d.Deployment] is { } dep
                    && dep["replicas"]!.AsArray().Count(r => r?["state"]?.ToString() == "RUNNING" && !gone.Contains(r["replica_id"]!.ToString())) >= dep["target_num_replicas"]!.GetValue<int>());
                if (!replaced) continue;
                log.LogInformation("Drill: replaced {Count} replica(s) within {Seconds:F1} s: every affected deployment is back at its target, RUNNING", lost.Count, clock.Elapsed.TotalSeconds);
                return;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or InvalidOperationException) { }
        }
        log.LogWarning("Drill: {Count} replica(s) not replaced within {Seconds} s", lost.Count, FollowUpFor.TotalSeconds);
    }

    private async Task FollowTakeoverAsync(int killed, ILogger log)
    {
        var clock = Stopwatch.StartNew();
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100), time);
        while (await timer.WaitForNextTickAsync() && clock.Elapsed < FollowUpFor)
            for (var i = 0; i < api.Controllers; i++)
                if (i != killed && await api.ControllerStatusAsync(i, CancellationToken.None) is { } s
                    && s["is_leader"]?.GetValue<bool>() == true && s["recovered"]?.GetValue<bool>() == true)
                {
                    log.LogInformation("Drill: controller-{Index} leads (lease token {Token}) and has recovered, {Seconds:F1} s after the kill", i, s["token"]?.ToString(), clock.Elapsed.TotalSeconds);
                    return;
                }
        log.LogWarning("Drill: no other controller took over within {Seconds} s", FollowUpFor.TotalSeconds);
    }
}
