using ServeAspire.Cli;

return await ServeCli.RunAsync(args, CliContext.FromProcess());
