using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ServeAspire.Cli.Commands;

/// <summary><c>serve shutdown</c>: DELETE every application, after a confirmation unless <c>-y</c>.</summary>
internal sealed class ShutdownCommand(CliContext context) : ControllerCommand<ShutdownCommand.Settings>(context)
{
    public sealed class Settings : GlobalSettings
    {
        [CommandOption("-y|--yes")]
        [Description("Do not ask for confirmation.")]
        public bool Yes { get; set; }
    }

    protected override async Task<int> RunAsync(ControllerClient client, Settings settings, CancellationToken ct)
    {
        if (!settings.Yes)
        {
            if (!Context.Out.Profile.Capabilities.Interactive)
                throw new CliException(ExitCodes.Usage, "not asking for confirmation on a console that is not interactive: pass -y/--yes to shut down");
            if (!await Context.Out.ConfirmAsync($"This will shut down every application at {client.Address}. Continue?", defaultValue: false, ct))
            {
                Context.WriteError("aborted");
                return ExitCodes.Error;
            }
        }
        var response = await client.SendAsync(HttpMethod.Delete, "/api/serve/applications/", null, ct);
        if (!response.IsSuccess) throw client.Failed(response);
        Context.Out.WriteLine($"Sent shutdown request to {client.Address}: every application is being deleted.");
        return ExitCodes.Ok;
    }
}
