using System.ComponentModel;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ServeAspire.Cli.Commands;

/// <summary>
/// <c>serve kill NAME [--no-restart]</c>: Ray's <c>ray.kill</c> through <c>POST /api/actors/{name}/kill</c>.
/// Restart is the default here, as in the kill API's reach over proxies, nodes and controllers (their
/// supervisor restarts them); <c>--no-restart</c> makes a replica leave for good: it is replaced under a new name.
/// </summary>
internal sealed class KillCommand(CliContext context) : ControllerCommand<KillCommand.Settings>(context)
{
    public sealed class Settings : GlobalSettings
    {
        [CommandArgument(0, "<NAME>")]
        [Description("A replica id or actor name (serve list actors), proxy-N, node-N, controller-N, or SERVE_CONTROLLER_ACTOR (the leader).")]
        public string Name { get; set; } = "";

        [CommandOption("--no-restart")]
        [Description("Replicas only: do not restart it in place; the controller replaces it under a new name.")]
        public bool NoRestart { get; set; }

        public override ValidationResult Validate() =>
            string.IsNullOrWhiteSpace(Name) ? ValidationResult.Error("NAME must not be empty") : base.Validate();
    }

    protected override async Task<int> RunAsync(ControllerClient client, Settings settings, CancellationToken ct)
    {
        var body = JsonContent.Create(new JsonObject { ["no_restart"] = settings.NoRestart });
        var response = await client.SendAsync(HttpMethod.Post, $"/api/actors/{Uri.EscapeDataString(settings.Name)}/kill", body, ct);
        if (!response.IsSuccess) throw client.Failed(response);
        var json = response.Json;
        return Print(json, settings, () => Context.Out.WriteLine(json?["message"]?.GetValue<string>() ?? response.Body));
    }
}
