using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Airlock.Backends.Oci;
using Airlock.ControlPlane.Audit;
using Airlock.ControlPlane.Store;
using Airlock.Core.Model;
using Airlock.Core.Storage;
using Airlock.Mcp.Gateway;
using Airlock.Mcp.Manifests;
using Airlock.Mcp.Server;
using ModelContextProtocol.Client;

// Gateway overhead per tool call, A/B in one run: the same upstream (server-everything's `echo`, each instance in
// its own OCI sandbox) called
//   direct     — an McpClient in this process over the sandboxed server's stdin/stdout;
//   in-process — McpGateway.CallToolAsync in this process (pinning lookup, result screening, audit record);
//   gateway    — the published `airlock mcp gateway` on stdio: client → gateway process → sandbox → back.
// Rounds alternate between the three so that drift on a shared host hits all alike. Root, loopback only.
var root = FindRoot();
var calls = int.Parse(Environment.GetEnvironmentVariable("CALLS") ?? "200", CultureInfo.InvariantCulture);
var rounds = int.Parse(Environment.GetEnvironmentVariable("ROUNDS") ?? "5", CultureInfo.InvariantCulture);
var work = Path.Combine("/var/tmp", "airlock-mcp-gateway-bench-" + Guid.NewGuid().ToString("N")[..8]);
Directory.CreateDirectory(work);
var nodeModules = Path.Combine(root, "artifacts", "npm", "node_modules");
File.WriteAllText(Path.Combine(work, "gateway.yaml"), $"""
    servers:
      everything:
        command: [node, /opt/mcp/node_modules/@modelcontextprotocol/server-everything/dist/index.js, stdio]
        mounts: [{"{"} host: {nodeModules}, path: /opt/mcp/node_modules {"}"}]
    """);
var config = GatewayConfig.Load(Path.Combine(work, "gateway.yaml"));
var home = Path.Combine(work, "home");
var oci = new OciBackend(new SandboxStore(new AirlockPaths(home)), new OciOptions(GuestBinary: Path.Combine(root, "artifacts", "bin", "airlock-guest")));
var launcher = new SandboxUpstreamLauncher(oci, TextWriter.Null);
var message = new string('x', 256) + " the quick brown fox [a link](https://example.com/docs) jumps over the lazy dog";
var callArgs = new Dictionary<string, object?> { ["message"] = message };
var jsonArgs = new Dictionary<string, JsonElement> { ["message"] = JsonSerializer.SerializeToElement(message) };

try
{
    // Approve once (as `airlock mcp approve` does), so every path calls a pinned tool.
    await using (var probe = await launcher.StartAsync("everything", config.Servers["everything"], CancellationToken.None))
    {
        var tools = await McpGateway.ListAllAsync(probe.Client, CancellationToken.None);
        using var signer = ManifestSigner.LoadOrCreate(config.SigningKey);
        new ManifestStore(config.Manifests).Save("everything", signer.Sign(new ToolManifest("everything", tools.Select(McpGateway.RecordOf).ToList(), DateTimeOffset.UtcNow, "bench")));
    }

    await using var direct = await launcher.StartAsync("everything", config.Servers["everything"], CancellationToken.None);

    using var store = new ControlStore(Path.Combine(work, "audit-inproc"));
    await using var log = new AuditLog(store);
    await using var inproc = new McpGateway(config, launcher, new GatewayAuditTrail(new AuditLogMcpAudit(log), "bench"),
        ManifestTrust.LocalPublicKey(config), TextWriter.Null);
    await inproc.StartAsync(CancellationToken.None);

    await using var gateway = await McpClient.CreateAsync(new StdioClientTransport(new StdioClientTransportOptions
    {
        Command = Path.Combine(root, "artifacts", "bin", "airlock"),
        Arguments = ["mcp", "gateway", Path.Combine(work, "gateway.yaml"), "--data-dir", Path.Combine(work, "audit")],
        EnvironmentVariables = new Dictionary<string, string?> { ["AIRLOCK_HOME"] = Path.Combine(work, "home-gw"), ["AIRLOCK_HOST"] = null, ["AIRLOCK_TOKEN"] = null },
        StandardErrorLines = _ => { },
    }));
    if (!(await gateway.ListToolsAsync()).Any(t => t.Name == "everything__echo"))
    {
        throw new InvalidOperationException("the gateway does not expose everything__echo");
    }

    var samples = new Dictionary<string, List<double>> { ["direct"] = [], ["in-process"] = [], ["gateway"] = [] };
    async Task Measure(string name, Func<Task<string>> call, bool keep)
    {
        for (var i = 0; i < calls; i++)
        {
            var sw = Stopwatch.StartNew();
            var text = await call();
            var ms = sw.Elapsed.TotalMilliseconds;
            if (!text.Contains("quick brown fox", StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"{name}: unexpected result {text}");
            }
            if (keep)
            {
                samples[name].Add(ms);
            }
        }
    }
    static string Text(ModelContextProtocol.Protocol.CallToolResult r) =>
        string.Join("", r.Content.OfType<ModelContextProtocol.Protocol.TextContentBlock>().Select(b => b.Text));
    for (var r = 0; r <= rounds; r++)
    {
        var keep = r > 0; // round 0 warms up every path
        await Measure("direct", async () => Text(await direct.Client.CallToolAsync("echo", callArgs)), keep);
        await Measure("in-process", async () => Text(await inproc.CallToolAsync("everything__echo", jsonArgs, CancellationToken.None)), keep);
        await Measure("gateway", async () => Text(await gateway.CallToolAsync("everything__echo", callArgs)), keep);
    }

    double P(List<double> xs, double q)
    {
        var s = xs.Order().ToList();
        return s[(int)Math.Min(s.Count - 1, Math.Round(q * (s.Count - 1)))];
    }
    var d50 = P(samples["direct"], 0.5);
    Console.WriteLine($"Per call: server-everything `echo` with a {message.Length}-character message (one markdown link), {rounds} rounds × {calls} calls per path, alternating; screening and audit on.");
    Console.WriteLine();
    Console.WriteLine("| path | p50 ms | p90 ms | p99 ms | p50 minus direct | ratio to direct |");
    Console.WriteLine("|---|---|---|---|---|---|");
    foreach (var (name, xs) in samples)
    {
        var p50 = P(xs, 0.5);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {p50:0.000} | {P(xs, 0.9):0.000} | {P(xs, 0.99):0.000} | {(name == "direct" ? "—" : $"+{p50 - d50:0.000} ms")} | {p50 / d50:0.00}× |"));
    }
    Console.WriteLine();
    var overhead = P(samples["gateway"], 0.5) - d50;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"Gateway overhead (p50 gateway − p50 direct): {overhead:0.000} ms — goal ≤ 1 ms: {(overhead <= 1 ? "met" : "NOT met")}."));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"Of which the gateway's own work (in-process p50 − direct p50: lookup, screening, audit queueing): {P(samples["in-process"], 0.5) - d50:0.000} ms; the rest is the extra stdio hop through the gateway process."));
}
finally
{
    await oci.ReapOrphansAsync(CancellationToken.None);
    try
    {
        Directory.Delete(work, recursive: true);
    }
    catch (IOException)
    {
    }
}

static string FindRoot()
{
    for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
    {
        if (File.Exists(Path.Combine(d.FullName, "Airlock.sln")))
        {
            return d.FullName;
        }
    }
    throw new InvalidOperationException("run from inside the repository");
}
