using ServeAspire.Cli.Commands;
using Spectre.Console.Cli;

namespace ServeAspire.Cli;

/// <summary>The <c>serve</c> command line: Ray's <c>serve</c> commands and the State API's <c>list</c>/<c>summary</c>.</summary>
public static class ServeCli
{
    internal static async Task<int> RunAsync(string[] args, CliContext context, CancellationToken ct = default)
    {
        var app = new CommandApp();
        app.Configure(config =>
        {
            config.SetApplicationName("serve");
            config.ConfigureConsole(context.Out);
            // Errors come back here, so each maps to its exit code and is printed as one line on stderr.
            config.PropagateExceptions();
            config.UseStrictParsing();
            config.Settings.Registrar.RegisterInstance(context);
            config.AddCommand<DeployCommand>("deploy")
                .WithDescription("Deploy a config file (YAML or JSON): it replaces the whole running config.")
                .WithExample("deploy", "samples/serve.yaml");
            config.AddCommand<StatusCommand>("status")
                .WithDescription("Applications, deployments, replica counts by state, status and messages.");
            config.AddCommand<ConfigCommand>("config")
                .WithDescription("The config each application runs with, as YAML.");
            config.AddCommand<ShutdownCommand>("shutdown")
                .WithDescription("Delete every application (asks first unless -y).");
            config.AddCommand<KillCommand>("kill")
                .WithDescription("Kill an actor (Ray's ray.kill): a replica, proxy, node agent or controller.")
                .WithExample("kill", "node-1")
                .WithExample("kill", "SERVE_REPLICA::SleepyPid#abcd1234", "--no-restart");
            config.AddBranch<GlobalSettings>("list", list =>
            {
                list.SetDescription("List cluster state (the State API).");
                list.AddCommand<ListActorsCommand>("actors").WithDescription("Every actor: controller, proxies, replicas.")
                    .WithExample("list", "actors", "--filter", "state=ALIVE", "--filter", "class_name=ServeReplica:SleepyPid");
                list.AddCommand<ListNodesCommand>("nodes").WithDescription("The node agents, alive and dead.");
            });
            config.AddBranch<GlobalSettings>("summary", summary =>
            {
                summary.SetDescription("Summarize cluster state.");
                summary.AddCommand<SummaryActorsCommand>("actors").WithDescription("Actor counts by class and state.");
            });
        });
        try
        {
            return await app.RunAsync(args, ct);
        }
        catch (CliException ex)
        {
            context.WriteError(ex.Message);
            return ex.ExitCode;
        }
        catch (CommandAppException ex)
        {
            context.WriteError($"{ex.Message} (see serve --help)");
            return ExitCodes.Usage;
        }
    }

    /// <summary>Runs the CLI against the process's console and environment (what <c>Program</c> does).</summary>
    public static Task<int> RunAsync(string[] args) => RunAsync(args, CliContext.FromProcess());
}
