using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;

namespace ServeAspire.Cli;

public enum OutputFormat { Table, Json, Yaml }

/// <summary>Options every command takes.</summary>
public class GlobalSettings : CommandSettings
{
    [CommandOption("-a|--address <URL>")]
    [Description($"The controller's REST API (default: ${CliContext.AddressVariable}, else {CliContext.DefaultAddress}).")]
    public string? Address { get; set; }

    [CommandOption("-o|--output <FORMAT>")]
    [Description("table (default), json or yaml.")]
    public string Output { get; set; } = "table";

    internal OutputFormat Format => Enum.Parse<OutputFormat>(Output, ignoreCase: true);

    public override ValidationResult Validate()
    {
        if (!Enum.TryParse<OutputFormat>(Output, ignoreCase: true, out _) || int.TryParse(Output, out _))
            return ValidationResult.Error($"--output must be table, json or yaml, not '{Output}'");
        if (Address is not null && !IsHttpUrl(Address))
            return ValidationResult.Error($"--address must be an http:// or https:// URL, not '{Address}'");
        return ValidationResult.Success();
    }

    internal static bool IsHttpUrl(string address) =>
        Uri.TryCreate(address, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);
}
