using System.Text.Json.Nodes;
using ServeAspire.Cli.Output;
using Spectre.Console.Cli;

namespace ServeAspire.Cli.Commands;

/// <summary>A command that calls the controller: it gets a client for the chosen address and token.</summary>
internal abstract class ControllerCommand<TSettings>(CliContext context) : AsyncCommand<TSettings> where TSettings : GlobalSettings
{
    protected CliContext Context { get; } = context;

    public sealed override async Task<int> ExecuteAsync(CommandContext commandContext, TSettings settings, CancellationToken cancellationToken)
    {
        using var client = new ControllerClient(Context, settings);
        return await RunAsync(client, settings, cancellationToken);
    }

    protected abstract Task<int> RunAsync(ControllerClient client, TSettings settings, CancellationToken ct);

    /// <summary>Prints <paramref name="data"/> as the chosen <c>--output</c>: raw JSON/YAML, else the command's own table.</summary>
    protected int Print(JsonNode? data, TSettings settings, Action table)
    {
        if (settings.Format != OutputFormat.Table) Context.WriteRaw(Formats.Render(data, settings.Format));
        else table();
        return ExitCodes.Ok;
    }
}
