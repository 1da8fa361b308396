using System.ComponentModel;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using ServeAspire.Cli.Output;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ServeAspire.Cli.Commands;

/// <summary><c>serve deploy FILE</c>: PUT the config; on a 400, each rejected field and why.</summary>
internal sealed class DeployCommand(CliContext context) : ControllerCommand<DeployCommand.Settings>(context)
{
    public sealed class Settings : GlobalSettings
    {
        [CommandArgument(0, "<FILE>")]
        [Description("The config: YAML or JSON (Ray's ServeDeploySchema).")]
        public string File { get; set; } = "";
    }

    protected override async Task<int> RunAsync(ControllerClient client, Settings settings, CancellationToken ct)
    {
        var path = Path.IsPathRooted(settings.File) ? settings.File : Path.Combine(Context.WorkingDirectory, settings.File);
        if (!File.Exists(path)) throw new CliException(ExitCodes.Usage, $"no such file: {settings.File}");
        var text = await File.ReadAllTextAsync(path, ct);
        var content = new StringContent(text);
        content.Headers.ContentType = new MediaTypeHeaderValue(text.TrimStart().StartsWith('{') ? "application/json" : "application/yaml") { CharSet = "utf-8" };
        var response = await client.SendAsync(HttpMethod.Put, "/api/serve/applications/", content, ct);
        if (response.Status == HttpStatusCode.BadRequest && response.Json?["errors"] is JsonArray errors && errors.Count > 0)
        {
            Context.WriteError($"the controller rejected {settings.File}; the running config is unchanged:");
            foreach (var e in errors)
            {
                var loc = Formats.Text(e?["loc"]);
                Context.Error.Profile.Out.Writer.WriteLine($"  {(loc.Length > 0 ? loc + ": " : "")}{Formats.Text(e?["msg"])}");
            }
            return ExitCodes.Error;
        }
        if (!response.IsSuccess)
            throw client.Failed(response);

        var body = response.Json;
        return Print(body, settings, () =>
        {
            var apps = (body?["applications"] as JsonArray)?.Select(Formats.Text).ToList() ?? [];
            Context.Out.MarkupLineInterpolated($"Sent deploy request for {apps.Count} application(s): [bold]{string.Join(", ", apps)}[/] to {client.Address}.");
            foreach (var ignored in (body?["ignored"] as JsonArray ?? []))
                Context.WriteWarning($"ignored: {Formats.Text(ignored)}");
            Context.Out.WriteLine("Deployment is asynchronous: watch it with `serve status`.");
        });
    }
}
