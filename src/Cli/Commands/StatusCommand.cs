using System.Text.Json.Nodes;
using ServeAspire.Cli.Output;
using Spectre.Console;

namespace ServeAspire.Cli.Commands;

/// <summary>
/// <c>serve status</c>: Ray's shape (proxies, then per application its status, message and per deployment
/// status, trigger, replica counts by state, message), from GET /api/serve/applications/.
/// </summary>
internal sealed class StatusCommand(CliContext context) : ControllerCommand<GlobalSettings>(context)
{
    protected override async Task<int> RunAsync(ControllerClient client, GlobalSettings settings, CancellationToken ct)
    {
        var status = Summarize(await client.GetAsync("/api/serve/applications/", ct));
        return Print(status, settings, () => Tables.Status(Context.Out, status));
    }

    /// <summary>ServeInstanceDetails reduced to what Ray's <c>serve status</c> prints.</summary>
    internal static JsonObject Summarize(JsonNode details)
    {
        var proxies = new JsonObject();
        foreach (var (name, proxy) in details["proxies"] as JsonObject ?? [])
            proxies[name] = Formats.Text(proxy?["status"]);
        var apps = new JsonObject();
        foreach (var (name, app) in details["applications"] as JsonObject ?? [])
        {
            var deployments = new JsonObject();
            foreach (var (depName, dep) in app?["deployments"] as JsonObject ?? [])
            {
                var states = new JsonObject();
                foreach (var group in (dep?["replicas"] as JsonArray ?? []).GroupBy(r => Formats.Text(r?["state"])).OrderBy(g => g.Key, StringComparer.Ordinal))
                    states[group.Key] = group.Count();
                var summary = new JsonObject
                {
                    ["status"] = Formats.Text(dep?["status"]),
                    ["status_trigger"] = Formats.Text(dep?["status_trigger"]),
                    ["target_num_replicas"] = dep?["target_num_replicas"]?.DeepClone(),
                    ["replica_states"] = states,
                    ["message"] = Formats.Text(dep?["message"]),
                };
                // An autoscaled deployment: its bounds, target and current count, and the last decision with its reason.
                if (dep?["autoscaling"] is JsonObject autoscaling) summary["autoscaling"] = autoscaling.DeepClone();
                deployments[depName] = summary;
            }
            apps[name] = new JsonObject
            {
                ["status"] = Formats.Text(app?["status"]),
                ["message"] = Formats.Text(app?["message"]),
                ["route_prefix"] = app?["route_prefix"]?.DeepClone(),
                ["last_deployed_time_s"] = app?["last_deployed_time_s"]?.DeepClone(),
                ["deployments"] = deployments,
            };
        }
        return new JsonObject { ["proxies"] = proxies, ["applications"] = apps, ["target_capacity"] = details["target_capacity"]?.DeepClone() };
    }
}
