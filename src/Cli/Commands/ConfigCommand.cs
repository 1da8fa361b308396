using System.ComponentModel;
using System.Text.Json.Nodes;
using ServeAspire.Cli.Output;
using Spectre.Console.Cli;

namespace ServeAspire.Cli.Commands;

/// <summary><c>serve config</c>: each application's config as it was applied, as YAML documents (Ray's <c>serve config</c>).</summary>
internal sealed class ConfigCommand(CliContext context) : ControllerCommand<ConfigCommand.Settings>(context)
{
    public sealed class Settings : GlobalSettings
    {
        [CommandOption("-n|--name <APP>")]
        [Description("Only this application.")]
        public string? Name { get; set; }
    }

    protected override async Task<int> RunAsync(ControllerClient client, Settings settings, CancellationToken ct)
    {
        var details = await client.GetAsync("/api/serve/applications/", ct);
        var configs = (details["applications"] as JsonObject ?? [])
            .Where(a => settings.Name is null || a.Key == settings.Name)
            .Select(a => a.Value?["deployed_app_config"]?.DeepClone())
            .ToList();
        if (settings.Name is not null && configs.Count == 0)
            throw new CliException(ExitCodes.Error, $"no application named '{settings.Name}' at {client.Address}");
        if (settings.Format == OutputFormat.Json)
            Context.WriteRaw(Formats.Json(new JsonArray([.. configs])));
        else if (configs.Count == 0)
            Context.WriteError("no applications are deployed");
        else
            // Table or YAML: a config reads best as the YAML it was written in, one document per application.
            Context.WriteRaw(string.Join("---\n", configs.Select(Formats.ToYaml)));
        return ExitCodes.Ok;
    }
}
