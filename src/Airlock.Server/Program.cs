using System.CommandLine;
using Airlock.Server.Admin;
using Airlock.Server.Hosting;

namespace Airlock.Server;

/// <summary><c>airlock-server</c>: the daemon and the commands that work on its data directory (<c>airlock serve</c>,
/// <c>airlock token …</c> and <c>airlock audit …</c> run this program).</summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var root = new RootCommand("Airlock daemon and store administration.");
        root.Subcommands.Add(ServeCommand());
        root.Subcommands.Add(AdminCommands.Token());
        root.Subcommands.Add(AdminCommands.Audit());
        root.Subcommands.Add(Mcp.Server.McpCommand.Create());
        return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null }).ConfigureAwait(false);
    }

    private static Command ServeCommand()
    {
        var dataDir = AdminCommands.DataDirOption();
        var listen = new Option<string[]>("--listen") { Description = "unix:PATH (default DATA_DIR/airlock.sock) or http://127.0.0.1:PORT; repeatable" };
        var otlp = new Option<string?>("--otlp-endpoint") { Description = "export traces and metrics via OTLP/HTTP to this base URL (default: off, or OTEL_EXPORTER_OTLP_ENDPOINT)" };
        var interval = new Option<double>("--reconcile-interval") { Description = "seconds between reconcile passes", DefaultValueFactory = _ => 1 };
        var creates = new Option<int>("--max-concurrent-creates") { Description = "sandboxes started at once to refill warm pools", DefaultValueFactory = _ => 8 };
        var mcpAllow = new Option<string[]>("--mcp-allow-template") { Description = "a template MCP clients of /mcp may use (repeatable); none by default" };
        var mcpConfig = new Option<string?>("--mcp-config") { Description = "YAML file of the /mcp server: allowTemplates, languages, limits (docs/mcp.md)" };
        var cmd = new Command("serve", "Run the control-plane daemon.") { dataDir, listen, otlp, interval, creates, mcpAllow, mcpConfig };
        cmd.SetAction((p, ct) => AdminCommands.Guard(async token =>
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(token);
            using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; cts.Cancel(); });
            using var intr = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, c => { c.Cancel = true; cts.Cancel(); });
            var mcp = (p.GetValue(mcpConfig) is { } path ? Mcp.Server.McpServerConfig.Load(path) : new Mcp.Server.McpServerConfig())
                .With(p.GetValue(mcpAllow) ?? [], []);
            return await DaemonHost.RunAsync(new DaemonOptions(p.GetValue(dataDir)!, p.GetValue(listen) ?? [], p.GetValue(otlp),
                TimeSpan.FromSeconds(Math.Clamp(p.GetValue(interval), 0.05, 60)), Math.Clamp(p.GetValue(creates), 1, 64), mcp), cts.Token).ConfigureAwait(false);
        }, ct));
        return cmd;
    }
}
