using System.Text.Json.Nodes;
using Spectre.Console;

namespace ServeAspire.Cli.Output;

/// <summary>The table renderings (the default <c>--output</c>).</summary>
internal static class Tables
{
    public static void Status(IAnsiConsole console, JsonObject status)
    {
        var proxies = status["proxies"] as JsonObject ?? [];
        if (proxies.Count > 0)
        {
            var table = new Table().Title("proxies").AddColumns("PROXY", "STATUS");
            foreach (var (name, state) in proxies) table.AddRow(Markup.Escape(name), Colored(Formats.Text(state)));
            console.Write(table);
        }
        var apps = status["applications"] as JsonObject ?? [];
        if (apps.Count == 0)
        {
            console.WriteLine("No applications are deployed.");
            return;
        }
        var rows = new Table().Title("applications").AddColumns("APPLICATION", "STATUS", "ROUTE", "DEPLOYMENT", "STATUS", "TARGET", "REPLICAS");
        var messages = new List<(string Where, string Message)>();
        foreach (var (name, app) in apps)
        {
            if (Formats.Text(app?["message"]) is { Length: > 0 } appMessage) messages.Add((name, appMessage));
            var first = true;
            foreach (var (depName, dep) in app?["deployments"] as JsonObject ?? [])
            {
                var states = dep?["replica_states"] as JsonObject ?? [];
                rows.AddRow(
                    first ? Markup.Escape(name) : "", first ? Colored(Formats.Text(app?["status"])) : "", first ? Markup.Escape(Formats.Text(app?["route_prefix"])) : "",
                    Markup.Escape(depName), Colored(Formats.Text(dep?["status"])), Formats.Text(dep?["target_num_replicas"]),
                    states.Count == 0 ? "-" : Markup.Escape(string.Join(", ", states.Select(s => $"{s.Key} {Formats.Text(s.Value)}"))));
                if (Formats.Text(dep?["message"]) is { Length: > 0 } depMessage) messages.Add(($"{name}/{depName}", depMessage));
                if (dep?["autoscaling"] is JsonObject a)
                    messages.Add(($"{name}/{depName}", $"autoscaling {Formats.Text(a["current_replicas"])} → {Formats.Text(a["target_replicas"])} replicas " +
                        $"(min {Formats.Text(a["min_replicas"])}, max {Formats.Text(a["max_replicas"])}); last decision: {(Formats.Text(a["last_decision"]) is { Length: > 0 } d ? d : "none yet")}"));
                first = false;
            }
            if (first) rows.AddRow(Markup.Escape(name), Colored(Formats.Text(app?["status"])), Markup.Escape(Formats.Text(app?["route_prefix"])), "-", "", "", "");
        }
        console.Write(rows);
        foreach (var (where, message) in messages)
            console.MarkupLineInterpolated($"[bold]{where}[/]: {message}");
    }

    /// <summary>One row per object, the given fields as columns (upper-cased, as Ray's <c>ray list</c> prints them).</summary>
    public static void Rows(IAnsiConsole console, JsonArray items, string[] columns, string what)
    {
        if (items.Count == 0)
        {
            console.WriteLine($"No {what}.");
            return;
        }
        var table = new Table().AddColumns(columns.Select(c => c.ToUpperInvariant()).ToArray());
        foreach (var item in items)
            table.AddRow(columns.Select(c => c == "state" ? Colored(Formats.Text(item?[c])) : Markup.Escape(Formats.Text(item?[c]))).ToArray());
        console.Write(table);
        console.WriteLine($"{items.Count} {what}");
    }

    public static void ActorSummary(IAnsiConsole console, JsonObject summary)
    {
        var table = new Table().AddColumns("CLASS_NAME", "STATE_COUNTS");
        foreach (var (cls, entry) in summary["summary"] as JsonObject ?? [])
            table.AddRow(Markup.Escape(cls), Markup.Escape(string.Join(", ", (entry?["state_counts"] as JsonObject ?? []).Select(s => $"{s.Key}: {Formats.Text(s.Value)}"))));
        console.Write(table);
        console.WriteLine($"{Formats.Text(summary["total_actors"])} actors");
    }

    private static string Colored(string state) => state switch
    {
        "RUNNING" or "HEALTHY" or "ALIVE" => $"[green]{state}[/]",
        "DEPLOY_FAILED" or "UNHEALTHY" or "DEAD" => $"[red]{state}[/]",
        "" => "",
        _ => $"[yellow]{Markup.Escape(state)}[/]",
    };
}
