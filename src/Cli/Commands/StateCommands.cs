using System.ComponentModel;
using System.Net;
using System.Text.Json.Nodes;
using ServeAspire.Cli.Output;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ServeAspire.Cli.Commands;

/// <summary><c>serve list actors [--filter key=value]…</c>: the State API (Ray's <c>ray list actors</c>).</summary>
internal sealed class ListActorsCommand(CliContext context) : ControllerCommand<ListActorsCommand.Settings>(context)
{
    public sealed class Settings : GlobalSettings
    {
        [CommandOption("-f|--filter <KEY=VALUE>")]
        [Description("Keep actors whose field equals the value (class_name, state, name, node_id, actor_id, pid); repeatable, all must match.")]
        public string[] Filters { get; set; } = [];

        public override ValidationResult Validate()
        {
            if (base.Validate() is { Successful: false } failed) return failed;
            var bad = Filters.FirstOrDefault(f => f.IndexOf('=') is <= 0);
            return bad is null ? ValidationResult.Success() : ValidationResult.Error($"--filter takes key=value, not '{bad}'");
        }
    }

    protected override async Task<int> RunAsync(ControllerClient client, Settings settings, CancellationToken ct)
    {
        var query = string.Join("&", settings.Filters.Select(f =>
        {
            var i = f.IndexOf('=');
            return $"{Uri.EscapeDataString(f[..i].Trim())}={Uri.EscapeDataString(f[(i + 1)..].Trim())}";
        }));
        var response = await client.SendAsync(HttpMethod.Get, "/api/actors" + (query.Length > 0 ? "?" + query : ""), null, ct);
        // The controller names the filters it knows: an unknown one is the command line's mistake.
        if (response.Status == HttpStatusCode.BadRequest) throw new CliException(ExitCodes.Usage, response.Error);
        if (!response.IsSuccess) throw client.Failed(response);
        var list = response.Json!;
        return Print(list, settings, () =>
            Tables.Rows(Context.Out, list["actors"] as JsonArray ?? [], ["actor_id", "class_name", "name", "state", "pid", "node_id", "death_cause"], "actors"));
    }
}

/// <summary><c>serve list nodes</c>: the node agents (Ray's <c>ray list nodes</c>).</summary>
internal sealed class ListNodesCommand(CliContext context) : ControllerCommand<GlobalSettings>(context)
{
    protected override async Task<int> RunAsync(ControllerClient client, GlobalSettings settings, CancellationToken ct)
    {
        var list = await client.GetAsync("/api/nodes", ct);
        return Print(list, settings, () => Tables.Rows(Context.Out, list["nodes"] as JsonArray ?? [], ["node_id", "state", "pid", "address", "started_at"], "nodes"));
    }
}

/// <summary><c>serve summary actors</c>: actor counts by class and state (Ray's <c>ray summary actors</c>).</summary>
internal sealed class SummaryActorsCommand(CliContext context) : ControllerCommand<GlobalSettings>(context)
{
    protected override async Task<int> RunAsync(ControllerClient client, GlobalSettings settings, CancellationToken ct)
    {
        var summary = Summarize(await client.GetAsync("/api/actors", ct));
        return Print(summary, settings, () => Tables.ActorSummary(Context.Out, summary));
    }

    internal static JsonObject Summarize(JsonNode list)
    {
        var actors = list["actors"] as JsonArray ?? [];
        var byClass = new JsonObject();
        foreach (var cls in actors.GroupBy(a => Formats.Text(a?["class_name"])).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var counts = new JsonObject();
            foreach (var state in cls.GroupBy(a => Formats.Text(a?["state"])).OrderBy(g => g.Key, StringComparer.Ordinal))
                counts[state.Key] = state.Count();
            byClass[cls.Key] = new JsonObject { ["class_name"] = cls.Key, ["state_counts"] = counts };
        }
        return new JsonObject { ["total_actors"] = actors.Count, ["summary"] = byClass };
    }
}
