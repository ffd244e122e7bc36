using System.CommandLine;
using Airlock.Cli.Commands;

namespace Airlock.Cli;

public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var root = new RootCommand("Airlock runs code no human reviewed behind an isolation boundary chosen per sandbox.");
        root.Subcommands.Add(RunCommand.Create());
        root.Subcommands.Add(SandboxCommands.Create());
        root.Subcommands.Add(TemplateCommands.Create());
        root.Subcommands.Add(DoctorCommand.Create());
        root.Subcommands.Add(KubernetesCommands.Export());
        root.Subcommands.Add(KubernetesCommands.Import());
        var parse = root.Parse(args);
        return await parse.InvokeAsync(new InvocationConfiguration
        {
            EnableDefaultExceptionHandler = false,
            // Context.Guard handles SIGINT/SIGTERM/SIGHUP itself: it must tear the sandbox down before exiting.
            ProcessTerminationTimeout = null,
        }).ConfigureAwait(false);
    }
}
