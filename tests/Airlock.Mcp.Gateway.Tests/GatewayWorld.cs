using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Airlock.Mcp.Tests;
using Airlock.Server.Tests;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Airlock.Mcp.Gateway.Tests;

/// <summary>A tool of the probe server (probe.mjs): <c>text</c> returns <see cref="Result"/>, <c>read</c> reads
/// <c>path</c>, <c>connect</c> opens TCP to <c>127.0.0.1:port</c>, <c>env</c> returns its environment.</summary>
public sealed record ProbeTool(string Name, string Description, string Behavior = "text", string? Result = null, JsonObject? InputSchema = null);

/// <summary>
/// One gateway setup on disk: a fresh directory (world-readable, since the sandboxes' mapped user reads the mounts)
/// holding gateway.yaml, the manifests, the signing key, the audit data directory, the filesystem server's /data and
/// the probe's /conf. Everything runs through the published <c>airlock</c> CLI, as a user would run it.
/// </summary>
public sealed class GatewayWorld : IDisposable
{
    public const string HostSecret = "host-secret-7f3a9c";

    public string Dir { get; } = Path.Combine("/var/tmp", "airlock-gw-test-" + Guid.NewGuid().ToString("N")[..8]);

    public string Home => Path.Combine(Dir, "home");

    public string DataDir => Path.Combine(Dir, "audit");

    public string Data => Path.Combine(Dir, "data");

    public string Conf => Path.Combine(Dir, "conf");

    public string ConfigPath => Path.Combine(Dir, "gateway.yaml");

    public static string NodeModules => Path.Combine(Peers.Npm, "node_modules");

    public ConcurrentQueue<string> GatewayStderr { get; } = new();

    private const UnixFileMode Open = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    public GatewayWorld()
    {
        Assert.True(File.Exists(Path.Combine(NodeModules, "@modelcontextprotocol", "server-filesystem", "dist", "index.js")), "run scripts/npm.sh first");
        foreach (var d in new[] { Dir, Data, Conf })
        {
            Directory.CreateDirectory(d, Open);
            File.SetUnixFileMode(d, Open);
        }
        WriteFile(Path.Combine(Data, "hello.txt"), "hello from the mounted dir\n");
        File.Copy(Path.Combine(AppContext.BaseDirectory, "probe.mjs"), Path.Combine(Conf, "probe.mjs"));
        File.SetUnixFileMode(Path.Combine(Conf, "probe.mjs"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        SetProbeTools(new ProbeTool("describe", "Describes the probe."));
    }

    public static void WriteFile(string path, string text)
    {
        File.WriteAllText(path, text);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
    }

    public void SetProbeTools(params ProbeTool[] tools)
    {
        var json = new JsonArray([.. tools.Select(t => (JsonNode)new JsonObject
        {
            ["name"] = t.Name,
            ["description"] = t.Description,
            ["behavior"] = t.Behavior,
            ["result"] = t.Result,
            ["inputSchema"] = t.InputSchema?.DeepClone(),
        })]);
        WriteFile(Path.Combine(Conf, "tools.json"), json.ToJsonString());
    }

    /// <summary>Writes gateway.yaml with the named servers (fs, everything, probe) and extra top-level YAML.</summary>
    public void WriteConfig(string[] servers, string extra = "", string probeExtra = "")
    {
        var nm = $"{{ host: {NodeModules}, path: /opt/mcp/node_modules }}";
        var defs = new Dictionary<string, string>
        {
            ["fs"] = $$"""
                  fs:
                    command: [node, /opt/mcp/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js, /data]
                    mounts: [{ host: ./data, path: /data }, {{nm}}]
                """,
            ["everything"] = $$"""
                  everything:
                    command: [node, /opt/mcp/node_modules/@modelcontextprotocol/server-everything/dist/index.js, stdio]
                    mounts: [{{nm}}]
                """,
            ["probe"] = $$"""
                  probe:
                    command: [node, /conf/probe.mjs, /conf/tools.json]
                    env: { PROBE_MARK: from-config }
                    mounts: [{ host: ./conf, path: /conf }, {{nm}}]
                    resources: { memory: 256Mi, pids: 64 }
                {{probeExtra}}
                """,
        };
        WriteFile(ConfigPath, "servers:\n" + string.Join("\n", servers.Select(s => defs[s])) + "\n" + extra);
    }

    private string[] GatewayArgs => ["mcp", "gateway", ConfigPath, "--data-dir", DataDir];

    private Dictionary<string, string> Env => new() { ["AIRLOCK_HOME"] = Home, ["GATEWAY_HOST_SECRET"] = HostSecret };

    /// <summary>Runs the published CLI (no daemon), with the gateway directory as working directory.</summary>
    public async Task<Run> CliAsync(params string[] args)
    {
        var psi = new ProcessStartInfo(Daemon.Cli) { RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = true, WorkingDirectory = Dir };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment.Remove("AIRLOCK_HOST");
        psi.Environment.Remove("AIRLOCK_TOKEN");
        foreach (var (k, v) in Env)
        {
            psi.Environment[k] = v;
        }
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var so = p.StandardOutput.ReadToEndAsync();
        var se = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await p.WaitForExitAsync(cts.Token);
        return new Run(p.ExitCode, await so, await se);
    }

    public async Task ApproveAsync(string server)
    {
        var r = await CliAsync("mcp", "approve", server, "--config", ConfigPath);
        Assert.True(r.ExitCode == 0, "approve failed: " + r);
        Assert.Contains($"approved", r.Stdout, StringComparison.Ordinal);
    }

    /// <summary>The gateway on stdio (the published CLI) with the C# SDK client.</summary>
    public async Task<McpClient> ConnectAsync()
    {
        var transport = new StdioClientTransport(new StdioClientTransportOptions
        {
            Command = Daemon.Cli,
            Arguments = GatewayArgs,
            WorkingDirectory = Dir,
            EnvironmentVariables = new Dictionary<string, string?>(Env.Select(kv => KeyValuePair.Create(kv.Key, (string?)kv.Value)))
            {
                ["AIRLOCK_HOST"] = null,
                ["AIRLOCK_TOKEN"] = null,
            },
            StandardErrorLines = GatewayStderr.Enqueue,
            Name = "airlock-gateway",
        });
        return await McpClient.CreateAsync(transport);
    }

    /// <summary>The MCP Inspector CLI against the gateway on stdio.</summary>
    public Task<Run> InspectorAsync(params string[] args) => Peers.InspectorAsync([Daemon.Cli, .. GatewayArgs, .. args], Env);

    /// <summary>The gateway's audit log, as <c>airlock audit tail</c> prints it.</summary>
    public async Task<string> AuditAsync()
    {
        var r = await CliAsync("audit", "tail", "--data-dir", DataDir, "-n", "1000");
        Assert.True(r.ExitCode == 0, r.ToString());
        return r.Stdout;
    }

    public static async Task<IReadOnlyList<string>> ToolNamesAsync(McpClient c) =>
        [.. (await c.ListToolsAsync()).Select(t => t.Name).Order(StringComparer.Ordinal)];

    public static string Text(CallToolResult r) => string.Join("\n", r.Content.OfType<TextContentBlock>().Select(b => b.Text));

    public static async Task<JsonElement> StatusAsync(McpClient c)
    {
        var r = await c.CallToolAsync(McpGateway.StatusTool);
        return JsonDocument.Parse(Text(r)).RootElement;
    }

    public void Dispose()
    {
        var mounted = File.ReadLines("/proc/self/mountinfo").Any(l => l.Split(' ')[4].StartsWith(Dir + "/", StringComparison.Ordinal));
        if (!mounted && Directory.Exists(Dir))
        {
            Directory.Delete(Dir, recursive: true);
        }
    }
}
