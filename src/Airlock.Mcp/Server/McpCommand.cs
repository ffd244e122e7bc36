using System.CommandLine;
using System.Runtime.InteropServices;
using Airlock.Backends.Oci;
using Airlock.Backends.V8;
using Airlock.Backends.Wasm;
using Airlock.Client;
using Airlock.Core;
using Airlock.Core.Backends;
using Airlock.Core.Model;
using Airlock.Core.Storage;
using Airlock.Core.Templates;
using Airlock.Egress.Gateway;

namespace Airlock.Mcp.Server;

/// <summary>
/// <c>airlock mcp</c> (run by <c>airlock-server mcp</c>): the sandbox tools on stdio for one MCP client. With
/// <c>AIRLOCK_HOST</c>/<c>AIRLOCK_TOKEN</c> set, sandboxes run on that daemon (which authenticates and audits);
/// otherwise in this process, on the OCI backend, like the CLI's own sandboxes.
/// </summary>
public static class McpCommand
{
    /// <summary>The <c>mcp</c> command. Subcommands (the gateway's) may be added to it.</summary>
    public static Command Create()
    {
        var allow = new Option<string[]>("--allow-template") { Description = "a template MCP clients may use (repeatable); nothing is allowed without one" };
        var config = new Option<string?>("--config") { Description = "YAML file: allowTemplates, languages, limits (see docs/mcp.md)" };
        var language = new Option<string[]>("--language") { Description = "run_code LANG in TEMPLATE: LANG=TEMPLATE (repeatable), e.g. javascript=node" };
        var cmd = new Command("mcp", "Serve Airlock's sandbox tools to an MCP client on stdin/stdout.") { allow, config, language };
        cmd.SetAction((p, ct) => RunAsync(p.GetValue(allow) ?? [], p.GetValue(config), p.GetValue(language) ?? [], ct));
        foreach (var sub in Gateway.GatewayCommands.Create())
        {
            cmd.Subcommands.Add(sub);
        }
        return cmd;
    }

    private static async Task<int> RunAsync(string[] allow, string? configPath, string[] languages, CancellationToken outer)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(outer);
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; cts.Cancel(); });
        using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; cts.Cancel(); });
        var ct = cts.Token;
        ISandboxHost? host = null;
        AirlockClient? client = null;
        try
        {
            var config = (configPath is null ? new McpServerConfig() : McpServerConfig.Load(configPath)).With(allow, languages);
            if (config.AllowedTemplates.Count == 0)
            {
                throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, "no template is allowed for MCP clients",
                    "give --allow-template NAME (for example --allow-template python), or allowTemplates in --config");
            }
            client = AirlockClient.FromEnvironment();
            if (client is not null)
            {
                host = new ClientSandboxHost(client);
            }
            else
            {
                var store = new SandboxStore(AirlockPaths.FromEnvironment());
                var oci = new OciBackend(store, new OciOptions(Egress: new EgressGateway(new EgressGatewayOptions
                {
                    Audit = e =>
                    {
                        if (!e.Allowed)
                        {
                            Console.Error.WriteLine($"airlock mcp: egress denied: {e.Protocol} {e.Host}:{e.Port} [{e.Rule}] {e.Reason}");
                        }
                    },
                    UpstreamTrustedRoots = EgressGatewayOptions.TrustedRootsFromEnvironment(),
                })));
                // Every class: javascript runs in the v8 class, modules in wasm.
                var backends = new BackendSet(oci, new WasmBackend(store.Paths), new V8Backend(store.Paths));
                await backends.ReapOrphansAsync(ct).ConfigureAwait(false);
                host = new BackendSandboxHost(backends, LoadTemplateFiles(config));
            }
            // Every allowed template must exist where sandboxes run: a typo is an error now, not in the agent's face.
            foreach (var t in config.AllowedTemplates)
            {
                await host.ResolveTemplateAsync(t, ct).ConfigureAwait(false);
            }
            Console.Error.WriteLine($"airlock mcp: serving {AirlockTools.Names.Length} tools on stdio (templates: {string.Join(", ", config.AllowedTemplates)}; sandboxes run {(client is null ? "in this process" : "on " + host.Describe)})");
            await McpHosting.RunStdioAsync(config, new McpCaller(client is null ? "local" : "daemon", "-", host), ct).ConfigureAwait(false);
            return 0;
        }
        catch (AirlockException e)
        {
            ErrorReport.Write(e, Console.Error);
            return 125;
        }
        catch (UnauthorizedAccessException e)
        {
            Console.Error.WriteLine($"airlock: error: {e.Message}");
            Console.Error.WriteLine("  remedy: run Airlock as root (it mounts workspaces and creates cgroups), or point AIRLOCK_HOST at a daemon");
            return 125;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return 0;
        }
        finally
        {
            if (host is IAsyncDisposable d)
            {
                await d.DisposeAsync().ConfigureAwait(false);
            }
            client?.Dispose();
        }
    }

    private static Dictionary<string, SandboxTemplate> LoadTemplateFiles(McpServerConfig config)
    {
        var templates = new Dictionary<string, SandboxTemplate>();
        foreach (var (name, path) in config.TemplateFiles)
        {
            var t = TemplateLoader.Load(path);
            if (t.Name != name)
            {
                throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, $"templateFiles.{name}: {path} defines template '{t.Name}'",
                    $"name it {t.Name} in the config, or rename the template");
            }
            templates[name] = t;
        }
        return templates;
    }
}
