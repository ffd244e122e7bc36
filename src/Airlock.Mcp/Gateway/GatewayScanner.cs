using System.Text;
using System.Text.Json.Nodes;
using Airlock.Mcp.Manifests;
using Airlock.Screening;
using ModelContextProtocol.Protocol;

namespace Airlock.Mcp.Gateway;

/// <summary>One thing <c>airlock mcp scan</c> found.</summary>
/// <param name="Code">A screening finding code, or <c>shadowing</c>, <c>unsigned</c>, <c>changed-since-approval</c>,
/// <c>added-since-approval</c>, <c>removed-since-approval</c>, <c>manifest-rejected</c>, <c>unavailable</c>.</param>
public sealed record ScanFinding(string Server, string Tool, string Code, string Severity, string Action, string Message);

/// <summary>The tools of every configured server (each run in its sandbox) and what is wrong with them.</summary>
public sealed record ScanReport(IReadOnlyDictionary<string, IReadOnlyList<string>> Tools, IReadOnlyList<ScanFinding> Findings)
{
    public JsonObject ToJson() => new()
    {
        ["servers"] = new JsonObject(Tools.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)new JsonArray([.. kv.Value.Select(t => (JsonNode)JsonValue.Create(t))])))),
        ["findings"] = new JsonArray([.. Findings.Select(f => (JsonNode)new JsonObject
        {
            ["server"] = f.Server,
            ["tool"] = f.Tool,
            ["code"] = f.Code,
            ["severity"] = f.Severity,
            ["action"] = f.Action,
            ["message"] = f.Message,
        })]),
    };

    /// <summary>A plain aligned table, one finding per line.</summary>
    public string ToTable()
    {
        var rows = new List<string[]> { new[] { "SERVER", "TOOL", "CODE", "SEVERITY", "ACTION", "DETAIL" } };
        rows.AddRange(Findings.Select(f => new[] { f.Server, f.Tool, f.Code, f.Severity, f.Action, f.Message }));
        var widths = Enumerable.Range(0, 5).Select(i => rows.Max(r => r[i].Length)).ToArray();
        var sb = new StringBuilder();
        foreach (var r in rows)
        {
            for (var i = 0; i < 5; i++)
            {
                sb.Append(r[i].PadRight(widths[i] + 2));
            }
            sb.Append(r[5]).Append('\n');
        }
        return sb.ToString();
    }
}

public static class GatewayScanner
{
    public static async Task<ScanReport> ScanAsync(GatewayConfig config, IUpstreamLauncher launcher, ManifestTrust trust, CancellationToken ct)
    {
        var listed = new Dictionary<string, IReadOnlyList<Tool>>(StringComparer.Ordinal);
        var findings = new List<ScanFinding>();
        // One server at a time: each runs in its own sandbox, and a 2-core host would rather not start them all at once.
        foreach (var (name, spec) in config.Servers.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            try
            {
                await using var conn = await launcher.StartAsync(name, spec, ct).ConfigureAwait(false);
                listed[name] = await McpGateway.ListAllAsync(conn.Client, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is UpstreamException or ModelContextProtocol.McpException or IOException)
            {
                listed[name] = [];
                findings.Add(new(name, "*", "unavailable", "High", "block", e.Message));
            }
        }
        var known = listed.SelectMany(kv => kv.Value.Select(t => new ToolIdentity(kv.Key, t.Name))).ToList();
        var screener = new Screener(config.Screening);
        var byName = known.GroupBy(k => k.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Select(k => k.Server).ToList(), StringComparer.Ordinal);
        foreach (var (server, tools) in listed)
        {
            var (manifest, rejected) = trust.Load(server);
            if (rejected is not null)
            {
                findings.Add(new(server, "*", "manifest-rejected", "High", "block", rejected));
            }
            var pinning = ToolPinning.Check(manifest, tools.Select(McpGateway.RecordOf).ToList());
            foreach (var p in pinning.Tools.Where(p => p.State != PinState.Approved))
            {
                findings.Add(p.State switch
                {
                    PinState.Unsigned => new(server, p.Tool.Name, "unsigned", "Medium", "block", $"no approved manifest (airlock mcp approve {server})"),
                    PinState.Changed => new(server, p.Tool.Name, "changed-since-approval", "High", "block", $"{p.Detail} differ from the approved definition"),
                    _ => new(server, p.Tool.Name, "added-since-approval", "Medium", "block", "not in the approved manifest"),
                });
            }
            foreach (var r in pinning.Removed)
            {
                findings.Add(new(server, r, "removed-since-approval", "Low", "warn", "approved but no longer listed"));
            }
            foreach (var t in tools)
            {
                var rec = McpGateway.RecordOf(t);
                var s = screener.ScreenTool(new ToolDescriptor(server, t.Name, rec.Description, rec.InputSchema, rec.Annotations), known);
                findings.AddRange(s.Findings.Select(f => new ScanFinding(server, t.Name, f.Code, f.Severity.ToString(), f.Action.ToString().ToLowerInvariant(),
                    $"{(f.Field.Length > 0 ? f.Field + ": " : "")}{f.Message}: {f.Excerpt}")));
                if (byName[t.Name].Count > 1)
                {
                    findings.Add(new(server, t.Name, "shadowing", "Medium", "warn",
                        $"also listed by {string.Join(", ", byName[t.Name].Where(o => o != server))} (the gateway namespaces them; a client without it would see one)"));
                }
                foreach (var other in listed.Keys.Where(o => o != server && Mimics(t.Name, o, listed[o])))
                {
                    findings.Add(new(server, t.Name, "shadowing", "High", "warn", $"the name imitates server '{other}' or its tools"));
                }
            }
        }
        return new ScanReport(listed.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<string>)kv.Value.Select(t => t.Name).ToList(), StringComparer.Ordinal), findings);
    }

    /// <summary>A tool name that poses as another server's tool: <c>OTHER__x</c>, <c>OTHER_x</c>, <c>OTHER.x</c>, or
    /// one of OTHER's tool names with a prefix or suffix glued on.</summary>
    private static bool Mimics(string name, string other, IReadOnlyList<Tool> otherTools)
    {
        var n = name.ToLowerInvariant();
        if (n.StartsWith(other + "_", StringComparison.Ordinal) || n.StartsWith(other + ".", StringComparison.Ordinal)
            || n.StartsWith(other + "-", StringComparison.Ordinal) || n.Contains(GatewayConfig.Separator + other, StringComparison.Ordinal))
        {
            return true;
        }
        return otherTools.Any(o => o.Name.Length >= 5 && n != o.Name.ToLowerInvariant() && n.Contains(o.Name.ToLowerInvariant(), StringComparison.Ordinal)
            && (n.StartsWith(other, StringComparison.Ordinal) || n.EndsWith(other, StringComparison.Ordinal)));
    }
}
