using System.CommandLine;
using System.Net;
using System.Runtime.InteropServices;
using Airlock.Backends.Oci;
using Airlock.ControlPlane.Audit;
using Airlock.ControlPlane.Store;
using Airlock.Core;
using Airlock.Core.Storage;
using Airlock.Egress.Gateway;
using Airlock.Mcp.Manifests;
using Airlock.Mcp.Server;
using Airlock.Screening;

namespace Airlock.Mcp.Gateway;

/// <summary><c>airlock mcp gateway | approve | scan</c> (run by <c>airlock-server mcp …</c>).</summary>
public static class GatewayCommands
{
    public static IEnumerable<Command> Create() => [Gateway(), Approve(), Scan()];

    private static Option<string> ConfigOption() => new("--config") { Description = "gateway YAML (servers, screening, trustedKeys, manifests, signingKey; see docs/mcp.md)", Required = true };

    private static Command Gateway()
    {
        // Also positional: the MCP Inspector CLI takes --config for itself.
        var file = new Argument<string?>("config") { Description = "gateway YAML (or --config)", Arity = ArgumentArity.ZeroOrOne };
        var config = new Option<string?>("--config") { Description = "gateway YAML (servers, screening, trustedKeys, manifests, signingKey; see docs/mcp.md)" };
        var http = new Option<string?>("--http") { Description = "serve streamable HTTP at 127.0.0.1:PORT/mcp (bearer token: AIRLOCK_GATEWAY_TOKEN or http.tokenFile) instead of stdio" };
        var dataDir = new Option<string?>("--data-dir") { Description = "where the audit log is kept (default $AIRLOCK_HOME/gateway)" };
        var cmd = new Command("gateway", "Serve the tools of the configured MCP servers, each run in a sandbox, pinned and screened, on stdio (or --http).") { file, config, http, dataDir };
        cmd.SetAction((p, ct) => GuardAsync(async token =>
        {
            var c = GatewayConfig.Load(p.GetValue(file) ?? p.GetValue(config)
                ?? throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, "no gateway config given", "airlock mcp gateway gateway.yaml (or --config gateway.yaml)"));
            var endpoint = p.GetValue(http) is { } h ? ParseEndpoint(h) : null;
            var bearer = endpoint is null ? null : HttpToken(c);
            var dir = p.GetValue(dataDir) ?? Path.Combine(AirlockPaths.FromEnvironment().Root, "gateway");
            using var store = new ControlStore(dir);
            await using var log = new AuditLog(store);
            var trail = new GatewayAuditTrail(new AuditLogMcpAudit(log), c.Tenant);
            var oci = await OciAsync(trail, token).ConfigureAwait(false);
            await using var gateway = new McpGateway(c, new SandboxUpstreamLauncher(oci), trail, ManifestTrust.LocalPublicKey(c));
            await gateway.StartAsync(token).ConfigureAwait(false);
            var exposed = (await gateway.ListToolsAsync(token).ConfigureAwait(false)).Count - 1;
            Console.Error.WriteLine($"airlock gateway: {c.Servers.Count} servers, {exposed} tools exposed, {gateway.Withheld.Count} withheld (gateway__status lists them); audit in {dir}");
            if (endpoint is not null)
            {
                await GatewayHosting.RunHttpAsync(gateway, endpoint, bearer!, url => Console.Error.WriteLine($"airlock gateway: listening on {url}"), token).ConfigureAwait(false);
            }
            else
            {
                await GatewayHosting.RunStdioAsync(gateway, token).ConfigureAwait(false);
            }
            return 0;
        }, ct));
        return cmd;
    }

    private static Command Approve()
    {
        var server = new Argument<string>("server") { Description = "the server (a key of servers:) whose current tools to approve" };
        var config = ConfigOption();
        var approver = new Option<string?>("--approver") { Description = "who approves (recorded in the manifest; default: the user name)" };
        var cmd = new Command("approve", "Run SERVER in its sandbox, list its tools and pin them in a manifest signed with the local key.") { server, config, approver };
        cmd.SetAction((p, ct) => GuardAsync(async token =>
        {
            var c = GatewayConfig.Load(p.GetValue(config)!);
            var name = p.GetValue(server)!;
            if (!c.Servers.TryGetValue(name, out var spec))
            {
                throw new AirlockException(AirlockException.ErrorCodes.NotFound, $"no server '{name}' in {p.GetValue(config)}",
                    $"configured: {string.Join(", ", c.Servers.Keys)}");
            }
            var oci = await OciAsync(null, token).ConfigureAwait(false);
            IReadOnlyList<ModelContextProtocol.Protocol.Tool> tools;
            await using (var conn = await new SandboxUpstreamLauncher(oci).StartAsync(name, spec, token).ConfigureAwait(false))
            {
                tools = await McpGateway.ListAllAsync(conn.Client, token).ConfigureAwait(false);
            }
            var screener = new Screener(c.Screening);
            foreach (var t in tools)
            {
                var r = McpGateway.RecordOf(t);
                var s = screener.ScreenTool(new ToolDescriptor(name, t.Name, r.Description, r.InputSchema, r.Annotations));
                Console.WriteLine($"  {name}{GatewayConfig.Separator}{t.Name}{(s.Clean ? "" : "  findings: " + string.Join(", ", s.Findings.Select(f => $"{f.Code}({f.Action.ToString().ToLowerInvariant()})").Distinct()))}");
            }
            using var signer = ManifestSigner.LoadOrCreate(c.SigningKey);
            var manifest = new ToolManifest(name, tools.Select(McpGateway.RecordOf).ToList(), DateTimeOffset.UtcNow, p.GetValue(approver) ?? Environment.UserName);
            var store = new ManifestStore(c.Manifests);
            store.Save(name, signer.Sign(manifest));
            Console.WriteLine($"approved {tools.Count} tools of '{name}', signed by {signer.KeyId}: {store.PathOf(name)}");
            Console.WriteLine("(screening still applies at the gateway: a blocked definition stays withheld even when approved)");
            return 0;
        }, ct));
        return cmd;
    }

    private static Command Scan()
    {
        var config = new Argument<string>("config") { Description = "gateway YAML" };
        var json = new Option<bool>("--json") { Description = "print the report as JSON" };
        var cmd = new Command("scan", "Run every configured server in its sandbox, list its tools and report poisoning, shadowing and approval state; exit 1 on findings.") { config, json };
        cmd.SetAction((p, ct) => GuardAsync(async token =>
        {
            var c = GatewayConfig.Load(p.GetValue(config)!);
            var oci = await OciAsync(null, token).ConfigureAwait(false);
            var report = await GatewayScanner.ScanAsync(c, new SandboxUpstreamLauncher(oci), new ManifestTrust(c, ManifestTrust.LocalPublicKey(c)), token).ConfigureAwait(false);
            if (p.GetValue(json))
            {
                Console.WriteLine(report.ToJson().ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
            }
            else
            {
                foreach (var (server, tools) in report.Tools)
                {
                    Console.WriteLine($"{server}: {tools.Count} tools");
                }
                Console.WriteLine();
                Console.Write(report.Findings.Count == 0 ? "no findings\n" : report.ToTable());
            }
            return report.Findings.Count == 0 ? 0 : 1;
        }, ct));
        return cmd;
    }

    private static async Task<OciBackend> OciAsync(GatewayAuditTrail? trail, CancellationToken ct)
    {
        var oci = new OciBackend(new SandboxStore(AirlockPaths.FromEnvironment()), new OciOptions(Egress: new EgressGateway(new EgressGatewayOptions
        {
            Audit = e =>
            {
                if (!e.Allowed)
                {
                    Console.Error.WriteLine($"airlock gateway: egress denied: {e.Protocol} {e.Host}:{e.Port} [{e.Rule}] {e.Reason}");
                }
                trail?.Record("mcp.gateway.egress", e.Sandbox, e.Allowed ? "allowed" : "denied", e.Rule, e.Reason, e.DurationMs,
                    $"{e.Protocol} {e.Host}:{e.Port} up={e.BytesUp} down={e.BytesDown}");
            },
            UpstreamTrustedRoots = EgressGatewayOptions.TrustedRootsFromEnvironment(),
        })));
        await oci.ReapOrphansAsync(ct).ConfigureAwait(false);
        return oci;
    }

    private static IPEndPoint ParseEndpoint(string text) =>
        IPEndPoint.TryParse(text.StartsWith("http://", StringComparison.Ordinal) ? text[7..].TrimEnd('/') : text, out var ep) && ep.Port > 0
            ? ep
            : throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, $"--http '{text}' is not ADDRESS:PORT", "use 127.0.0.1:PORT");

    private static string HttpToken(GatewayConfig c)
    {
        var token = Environment.GetEnvironmentVariable("AIRLOCK_GATEWAY_TOKEN");
        if (string.IsNullOrWhiteSpace(token) && c.HttpTokenFile is { } f)
        {
            try
            {
                token = File.ReadAllText(f).Trim();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new AirlockException(AirlockException.ErrorCodes.File, $"http.tokenFile: cannot read '{f}': {e.Message}", "write a random token into it (e.g. openssl rand -hex 32)");
            }
        }
        if (string.IsNullOrWhiteSpace(token) || token.Length < 16)
        {
            throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, "--http needs a bearer token of at least 16 characters",
                "set AIRLOCK_GATEWAY_TOKEN or http.tokenFile in the config (e.g. openssl rand -hex 32 > gateway.token)");
        }
        return token;
    }

    private static async Task<int> GuardAsync(Func<CancellationToken, Task<int>> body, CancellationToken outer)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(outer);
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; cts.Cancel(); });
        using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; cts.Cancel(); });
        try
        {
            return await body(cts.Token).ConfigureAwait(false);
        }
        catch (AirlockException e)
        {
            ErrorReport.Write(e, Console.Error);
            return 125;
        }
        catch (Exception e) when (e is ManifestException or UpstreamException or ScreeningSpecException)
        {
            Console.Error.WriteLine($"airlock: error: {e.Message}");
            return 125;
        }
        catch (UnauthorizedAccessException e)
        {
            Console.Error.WriteLine($"airlock: error: {e.Message}");
            Console.Error.WriteLine("  remedy: run the gateway as root (its servers run in sandboxes, which need cgroups and mounts)");
            return 125;
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            return 0;
        }
    }
}
