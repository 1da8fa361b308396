using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace ServeAspire.AppHost.Dashboard;

/// <summary>
/// One replica as the controller reports it: live ones from <c>GET /api/serve/applications/</c> (Ray's
/// ServeInstanceDetails), dead ones from the State API (<c>GET /api/actors</c>, <c>state=DEAD</c>), with
/// <c>num_restarts</c>/<c>exit_code</c> from the actor row when the controller sends them.
/// </summary>
/// <param name="State">Ray's replica state (STARTING, RUNNING, STOPPING …), or DEAD.</param>
/// <param name="Application">Empty for a dead replica never seen alive (the actor row does not name its application).</param>
internal sealed record ReplicaRow(
    string ReplicaId, string Application, string Deployment, string? NodeId, string State, int? Pid,
    DateTimeOffset? StartedAt = null, int Restarts = 0, int? ExitCode = null, string? StopReason = null, string? DeathCause = null)
{
    public const string Dead = "DEAD";
    public bool IsDead => State == Dead;
}

/// <summary>The controller's JSON → <see cref="ReplicaRow"/>s, and a row → the dashboard snapshot of its resource.</summary>
internal static class ReplicaRows
{
    public const string ResourceType = "ServeReplica";
    private const string ReplicaClassPrefix = "ServeReplica:";

    /// <summary>Every replica in either answer; a replica in both (a race between the two GETs) is taken as live.</summary>
    public static IReadOnlyList<ReplicaRow> From(JsonNode? applications, JsonNode? actors)
    {
        var actorRows = (actors?["actors"] as JsonArray ?? [])
            .OfType<JsonObject>()
            .Where(a => Str(a, "class_name")?.StartsWith(ReplicaClassPrefix, StringComparison.Ordinal) == true && Str(a, "actor_id") is not null)
            .GroupBy(a => Str(a, "actor_id")!)
            .ToDictionary(g => g.Key, g => g.Last());
        var rows = new List<ReplicaRow>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (appName, app) in applications?["applications"] as JsonObject ?? [])
            foreach (var (depName, dep) in app?["deployments"] as JsonObject ?? [])
                foreach (var r in (dep?["replicas"] as JsonArray ?? []).OfType<JsonObject>())
                {
                    if (Str(r, "replica_id") is not { } id || !seen.Add(id)) continue;
                    actorRows.TryGetValue(id, out var actor);
                    rows.Add(new ReplicaRow(id, appName, depName, Str(r, "node_id"), Str(r, "state") ?? "UNKNOWN", Int(r, "pid"),
                        Dbl(r, "start_time_s") is { } s and > 0 ? DateTimeOffset.FromUnixTimeMilliseconds((long)(s * 1000)) : null,
                        Int(actor, "num_restarts") ?? 0, Int(actor, "exit_code"), Str(r, "stop_reason"), null));
                }
        foreach (var (id, a) in actorRows)
        {
            if (Str(a, "state") != ReplicaRow.Dead || !seen.Add(id)) continue;
            rows.Add(new ReplicaRow(id, "", Str(a, "class_name")![ReplicaClassPrefix.Length..], Str(a, "node_id"), ReplicaRow.Dead, Int(a, "pid"),
                null, Int(a, "num_restarts") ?? 0, Int(a, "exit_code"), null, Str(a, "death_cause")));
        }
        return rows;
    }

    /// <summary>
    /// The dashboard's state for a Ray replica state: Starting, Running, Unhealthy (stopping because its
    /// health checks or requests failed), Stopping; a dead one is Finished when it was asked to stop, else Exited.
    /// </summary>
    public static (string Text, string Style) StateOf(ReplicaRow row) => row.State switch
    {
        "STARTING" => (KnownResourceStates.Starting, KnownResourceStateStyles.Info),
        "RUNNING" => (KnownResourceStates.Running, KnownResourceStateStyles.Success),
        "UPDATING" => ("Updating", KnownResourceStateStyles.Info),
        "RECOVERING" => ("Recovering", KnownResourceStateStyles.Info),
        "PENDING_MIGRATION" => ("Migrating", KnownResourceStateStyles.Info),
        "UNHEALTHY" => ("Unhealthy", KnownResourceStateStyles.Error),
        "STOPPING" when IsHealthFailure(row.StopReason) => ("Unhealthy", KnownResourceStateStyles.Error),
        "STOPPING" => (KnownResourceStates.Stopping, KnownResourceStateStyles.Info),
        ReplicaRow.Dead when row.DeathCause?.StartsWith("stopped", StringComparison.Ordinal) == true && row.ExitCode is null or 0
            => (KnownResourceStates.Finished, KnownResourceStateStyles.Info),
        ReplicaRow.Dead => (KnownResourceStates.Exited, KnownResourceStateStyles.Error),
        var other => (other, KnownResourceStateStyles.Warn),
    };

    private static bool IsHealthFailure(string? stopReason) =>
        stopReason is not null && (stopReason.StartsWith("health check", StringComparison.Ordinal) || stopReason.StartsWith("unresponsive", StringComparison.Ordinal));

    /// <summary>
    /// The snapshot of a replica's resource: state, PID, replica id, deployment, application, node, restarts
    /// and exit code, nested under its node (<paramref name="parentResourceName"/>, the node's resolved resource name).
    /// </summary>
    public static CustomResourceSnapshot Apply(CustomResourceSnapshot s, ReplicaRow row, string? parentResourceName, DateTime? stoppedAt)
    {
        var (text, style) = StateOf(row);
        var properties = ImmutableArray.CreateBuilder<ResourcePropertySnapshot>();
        properties.AddRange(s.Properties.Where(p => !p.Name.StartsWith("replica.", StringComparison.Ordinal) && p.Name is not (ParentNameProperty or SourceProperty)));
        if (parentResourceName is not null) properties.Add(new(ParentNameProperty, parentResourceName));
        // The grid's Source column (Aspire's KnownProperties.Resource.Source): where the replica comes from, and its PID.
        properties.Add(new(SourceProperty, $"{(row.Application.Length > 0 ? row.Application + "/" : "")}{row.Deployment} pid {row.Pid?.ToString(CultureInfo.InvariantCulture) ?? "-"}"));
        properties.Add(new("replica.id", row.ReplicaId));
        properties.Add(new("replica.deployment", row.Deployment));
        properties.Add(new("replica.application", row.Application));
        properties.Add(new("replica.node", row.NodeId ?? ""));
        properties.Add(new("replica.state", row.State));
        properties.Add(new("replica.pid", row.Pid?.ToString(CultureInfo.InvariantCulture) ?? ""));
        properties.Add(new("replica.restarts", row.Restarts.ToString(CultureInfo.InvariantCulture)));
        properties.Add(new("replica.exitCode", row.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? ""));
        if (row.StopReason is not null) properties.Add(new("replica.stopReason", row.StopReason));
        if (row.DeathCause is not null) properties.Add(new("replica.deathCause", row.DeathCause));
        return s with
        {
            ResourceType = ResourceType,
            State = new ResourceStateSnapshot(text, style),
            Properties = properties.ToImmutable(),
            ExitCode = row.ExitCode,
            StartTimeStamp = row.StartedAt?.UtcDateTime ?? s.StartTimeStamp,
            StopTimeStamp = row.IsDead ? stoppedAt ?? s.StopTimeStamp : null,
        };
    }

    /// <summary>The property the dashboard nests a resource under its parent with (Aspire's KnownProperties.Resource.ParentName).</summary>
    public const string ParentNameProperty = "resource.parentName";

    /// <summary>What the grid's Source column shows for a resource that is neither a project, an executable nor a container.</summary>
    public const string SourceProperty = "resource.source";

    /// <summary>
    /// A valid Aspire resource name for a replica, <c>{deployment}-{replica id}</c> (letters, digits and single
    /// hyphens, starting with a letter, at most 64 characters), e.g. <c>SleepyPid-k2j4h5ab</c>.
    /// </summary>
    public static string ResourceName(string deployment, string replicaId)
    {
        var sb = new StringBuilder();
        foreach (var c in $"{deployment}-{replicaId}")
        {
            var ch = char.IsAsciiLetterOrDigit(c) ? c : '-';
            if (ch == '-' && (sb.Length == 0 || sb[^1] == '-')) continue;
            sb.Append(ch);
        }
        if (sb.Length == 0 || !char.IsAsciiLetter(sb[0])) sb.Insert(0, "r-");
        var name = sb.ToString();
        if (name.Length > 64) name = name[..32].TrimEnd('-') + "-" + replicaId[^Math.Min(replicaId.Length, 31)..].Replace('_', '-');
        return name.TrimEnd('-');
    }

    /// <summary>What a change of a replica's row says in its log (null when nothing worth a line changed).</summary>
    public static string? Transition(ReplicaRow? before, ReplicaRow now)
    {
        var where = $"{now.Application}/{now.Deployment}#{now.ReplicaId} on {now.NodeId ?? "?"}";
        if (before is null)
            return now.IsDead
                ? $"replica {where} (pid {now.Pid}) is DEAD: {now.DeathCause}"
                : $"replica {where} is {now.State} (pid {now.Pid})";
        if (before.State == now.State && before.Pid == now.Pid && before.Restarts == now.Restarts) return null;
        if (now.IsDead)
            return $"replica {where} (pid {now.Pid}) {before.State} -> DEAD: {now.DeathCause ?? "gone"}{(now.ExitCode is { } code ? $" (exit code {code})" : "")}";
        if (now.Restarts != before.Restarts) return $"replica {where} restarted (restart #{now.Restarts}, pid {now.Pid})";
        return $"replica {where} {before.State} -> {now.State}{(now.StopReason is { } reason ? $" ({reason})" : "")} (pid {now.Pid})";
    }

    private static string? Str(JsonNode? o, string key) => o?[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static int? Int(JsonNode? o, string key) => o?[key] is JsonValue v && v.TryGetValue<int>(out var i) ? i : null;

    private static double? Dbl(JsonNode? o, string key) => o?[key] is JsonValue v && v.TryGetValue<double>(out var d) ? d : null;
}
