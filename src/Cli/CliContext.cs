using Spectre.Console;

namespace ServeAspire.Cli;

/// <summary>
/// What the CLI takes from its process (consoles, environment, working directory, the HTTP handler),
/// passed in so tests run it in-process against a captured console and a fake handler.
/// </summary>
internal sealed class CliContext(IAnsiConsole output, IAnsiConsole error, Func<string, string?> environment, string workingDirectory, Func<HttpMessageHandler> handler)
{
    public const string AddressVariable = "SERVE_ADDRESS";
    public const string DefaultAddress = "http://127.0.0.1:8265";

    public IAnsiConsole Out { get; } = output;
    public IAnsiConsole Error { get; } = error;
    public Func<string, string?> Environment { get; } = environment;
    public string WorkingDirectory { get; } = workingDirectory;
    public Func<HttpMessageHandler> CreateHandler { get; } = handler;
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    public static CliContext FromProcess()
    {
        var output = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
        var error = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        // Redirected output has no width to fit: keep table rows whole rather than wrapped at 80 columns.
        if (Console.IsOutputRedirected) output.Profile.Width = 240;
        return new CliContext(output, error, System.Environment.GetEnvironmentVariable, Directory.GetCurrentDirectory(),
            () => new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(5) });
    }

    /// <summary>
    /// The state folder holding <c>auth_token</c>: <c>.state</c> in the repository root (the nearest
    /// folder up from the working directory with <c>ServeAspire.sln</c>), else in the working directory.
    /// </summary>
    public string StateDirectory
    {
        get
        {
            for (var dir = new DirectoryInfo(WorkingDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "ServeAspire.sln")))
                    return Path.Combine(dir.FullName, ".state");
            return Path.Combine(WorkingDirectory, ".state");
        }
    }

    /// <summary>Text as is (JSON, YAML): written raw so the console neither wraps nor reads it as markup.</summary>
    public void WriteRaw(string text) => Out.Profile.Out.Writer.Write(text.EndsWith('\n') ? text : text + "\n");

    public void WriteError(string message) => Error.Profile.Out.Writer.WriteLine($"serve: error: {message}");

    public void WriteWarning(string message) => Error.Profile.Out.Writer.WriteLine($"serve: warning: {message}");
}

/// <summary>A failure the CLI reports as one line, exiting with <see cref="ExitCode"/>.</summary>
internal sealed class CliException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

internal static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>The server failed or refused, or could not be reached.</summary>
    public const int Error = 1;
    /// <summary>The command line was wrong.</summary>
    public const int Usage = 2;
}
