using System.CommandLine;
using Airlock.Cli.Commands;

namespace Airlock.Cli;

public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Length > 0 && ServerCommands.Verbs.Contains(args[0]) && !args.Contains("--help") && !args.Contains("-h"))
        {
            return ServerCommands.Exec(args);
        }
        // --host HOST (anywhere before --) is AIRLOCK_HOST for this command.
        var dashdash = Array.IndexOf(args, "--");
        var hostAt = Array.IndexOf(args, "--host");
        if (hostAt >= 0 && hostAt + 1 < args.Length && (dashdash < 0 || hostAt < dashdash))
        {
            Environment.SetEnvironmentVariable("AIRLOCK_HOST", args[hostAt + 1]);
            args = [.. args[..hostAt], .. args[(hostAt + 2)..]];
        }
        var root = new RootCommand("Airlock runs code no human reviewed behind an isolation boundary chosen per sandbox.");
        root.Subcommands.Add(RunCommand.Create());
        root.Subcommands.Add(SandboxCommands.Create());
        root.Subcommands.Add(TemplateCommands.Create());
        root.Subcommands.Add(DoctorCommand.Create());
        root.Subcommands.Add(KubernetesCommands.Export());
        root.Subcommands.Add(KubernetesCommands.Import());
        root.Subcommands.Add(ControlCommands.Pool());
        root.Subcommands.Add(ControlCommands.Claim());
        foreach (var stub in ServerCommands.HelpStubs())
        {
            stub.SetAction(p => ServerCommands.Exec([.. p.Tokens.Select(t => t.Value)]));
            root.Subcommands.Add(stub);
        }
        var parse = root.Parse(args);
        return await parse.InvokeAsync(new InvocationConfiguration
        {
            EnableDefaultExceptionHandler = false,
            // Context.Guard handles SIGINT/SIGTERM/SIGHUP itself: it must tear the sandbox down before exiting.
            ProcessTerminationTimeout = null,
        }).ConfigureAwait(false);
    }
}
