using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Airlock.Mcp.Manifests;
using Airlock.Screening;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Airlock.Mcp.Gateway;

/// <summary>Why a listed tool does not reach the agent.</summary>
/// <param name="Server">Upstream server.</param>
/// <param name="Tool">Tool name as the upstream lists it.</param>
/// <param name="Reason"><c>unsigned</c>, <c>changed</c>, <c>added</c>, <c>manifest-rejected</c>, <c>screening</c>, <c>unavailable</c>.</param>
/// <param name="Detail">What differs, which finding codes, why the manifest was rejected.</param>
public sealed record WithheldTool(string Server, string Tool, string Reason, string Detail);

/// <summary>
/// The gateway's core, independent of transport: fronts several upstream MCP servers, re-exports their approved tools
/// as <c>SERVER__TOOL</c>, screens descriptions and results, withholds what is unsigned, changed, added or blocked,
/// and audits every call and finding.
/// </summary>
public sealed class McpGateway : IAsyncDisposable
{
    /// <summary>The gateway's own tool: what is withheld and why.</summary>
    public const string StatusTool = GatewayConfig.Reserved + GatewayConfig.Separator + "status";

    private readonly GatewayConfig _config;
    private readonly IUpstreamLauncher _launcher;
    private readonly GatewayAuditTrail _audit;
    private readonly TextWriter _log;
    private readonly Screener _screener;
    private readonly ManifestTrust _trust;
    private readonly Dictionary<string, Upstream> _upstreams = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _refreshGate = new(1, 1);
    private readonly HashSet<string> _reported = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ToolScreeningResult> _screened = new(StringComparer.Ordinal);
    private FileSystemWatcher? _watcher;
    private volatile bool _disposing;
    private volatile Snapshot _snapshot = new([], new Dictionary<string, Exposed>(StringComparer.Ordinal), []);

    private sealed class Upstream(string name, UpstreamSpec spec)
    {
        public string Name { get; } = name;
        public UpstreamSpec Spec { get; } = spec;
        public UpstreamConnection? Connection { get; set; }
        public string? Error { get; set; }
        public IReadOnlyList<Tool> Listed { get; set; } = [];
    }

    private sealed record Exposed(string Server, string UpstreamName, Tool Tool);

    private sealed record Snapshot(IReadOnlyList<Tool> Tools, IReadOnlyDictionary<string, Exposed> ByName, IReadOnlyList<WithheldTool> Withheld);

    /// <param name="localPublicKeyPem">The public half of the local signing key: manifests <c>approve</c> wrote.</param>
    public McpGateway(GatewayConfig config, IUpstreamLauncher launcher, GatewayAuditTrail audit, string? localPublicKeyPem, TextWriter? log = null)
    {
        _config = config;
        _launcher = launcher;
        _audit = audit;
        _log = log ?? Console.Error;
        _screener = new Screener(config.Screening);
        _trust = new ManifestTrust(config, localPublicKeyPem);
        foreach (var (name, spec) in config.Servers)
        {
            _upstreams[name] = new Upstream(name, spec);
        }
    }

    /// <summary>Raised when the set of exposed tools changed (send <c>notifications/tools/list_changed</c>).</summary>
    public event Func<Task>? ToolsChanged;

    /// <summary>Tools withheld at the last refresh, with the reason.</summary>
    public IReadOnlyList<WithheldTool> Withheld => _snapshot.Withheld;

    /// <summary>Starts every upstream (concurrently); one that fails stays down and its tools are withheld.</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        await Task.WhenAll(_upstreams.Values.Select(async u =>
        {
            try
            {
                u.Connection = await _launcher.StartAsync(u.Name, u.Spec, ct).ConfigureAwait(false);
                u.Connection.Client.RegisterNotificationHandler(NotificationMethods.ToolListChangedNotification, (_, _) =>
                {
                    // Re-list now, off the client's message loop: an added or changed tool is withheld at once.
                    _ = Task.Run(() => RefreshAndNotifyAsync(CancellationToken.None), CancellationToken.None);
                    return ValueTask.CompletedTask;
                });
                _ = u.Connection.Exited.ContinueWith(t =>
                {
                    u.Error = "the server " + t.Result;
                    if (!_disposing)
                    {
                        _log.WriteLine($"airlock gateway: upstream '{u.Name}' ended: {t.Result}");
                        _audit.Record("mcp.gateway.upstream", u.Name, "allowed", "gateway:upstream", "ended", 0, t.Result);
                        _ = Task.Run(() => RefreshAndNotifyAsync(CancellationToken.None), CancellationToken.None);
                    }
                }, CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
                _log.WriteLine($"airlock gateway: upstream '{u.Name}' started in a sandbox ({u.Connection.Client.ServerInfo?.Name} {u.Connection.Client.ServerInfo?.Version})");
            }
            catch (UpstreamException e)
            {
                u.Error = e.Message;
                _log.WriteLine($"airlock gateway: {e.Message}");
                _audit.Record("mcp.gateway.upstream", u.Name, "denied", "gateway:upstream", "failed", 0, e.Message);
            }
        })).ConfigureAwait(false);
        WatchManifests();
        await RefreshAsync(ct).ConfigureAwait(false);
    }

    /// <summary>An approval (or a tampered file) takes effect at once: the agent is told the list changed.</summary>
    private void WatchManifests()
    {
        try
        {
            Directory.CreateDirectory(_config.Manifests, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            _watcher = new FileSystemWatcher(_config.Manifests, "*.manifest.json") { NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size };
            FileSystemEventHandler changed = (_, _) => _ = Task.Run(() => RefreshAndNotifyAsync(CancellationToken.None), CancellationToken.None);
            _watcher.Changed += changed;
            _watcher.Created += changed;
            _watcher.Deleted += changed;
            _watcher.Renamed += (s, e) => changed(s, e);
            _watcher.EnableRaisingEvents = true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            _log.WriteLine($"airlock gateway: not watching {_config.Manifests} ({e.Message}); approvals take effect at the next tools/list");
        }
    }

    /// <summary>Re-lists every upstream, re-reads and verifies manifests, and recomputes what is exposed.</summary>
    public async Task<IReadOnlyList<Tool>> RefreshAsync(CancellationToken ct)
    {
        await _refreshGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_upstreams.Values.Select(async u =>
            {
                if (u.Connection is null || u.Connection.Exited.IsCompleted)
                {
                    u.Listed = [];
                    return;
                }
                try
                {
                    u.Listed = await ListAllAsync(u.Connection.Client, ct).ConfigureAwait(false);
                    u.Error = null;
                }
                catch (Exception e) when (e is McpException or IOException or ObjectDisposedException or InvalidOperationException)
                {
                    u.Listed = [];
                    u.Error = "tools/list failed: " + e.Message;
                }
            })).ConfigureAwait(false);
            _snapshot = Compute();
            return _snapshot.Tools;
        }
        finally
        {
            _refreshGate.Release();
        }
    }

    private async Task RefreshAndNotifyAsync(CancellationToken ct)
    {
        if (_disposing)
        {
            return;
        }
        try
        {
            var before = _snapshot.Tools;
            var after = await RefreshAsync(ct).ConfigureAwait(false);
            if (!before.Select(Key).SequenceEqual(after.Select(Key)) && ToolsChanged is { } changed)
            {
                await changed().ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _log.WriteLine($"airlock gateway: re-listing after tools/list_changed failed: {e.Message}");
        }

        static string Key(Tool t) => t.Name + "\0" + t.Description;
    }

    /// <summary>What a <c>tools/list</c> answers: re-lists upstreams first, so a rug pull is seen at the next listing
    /// even from a server that sends no <c>list_changed</c>.</summary>
    public async Task<IReadOnlyList<Tool>> ListToolsAsync(CancellationToken ct) => await RefreshAsync(ct).ConfigureAwait(false);

    /// <summary>Every tool an MCP server lists, following pagination cursors.</summary>
    public static async Task<IReadOnlyList<Tool>> ListAllAsync(McpClient client, CancellationToken ct)
    {
        var tools = new List<Tool>();
        string? cursor = null;
        do
        {
            var page = await client.ListToolsAsync(new ListToolsRequestParams { Cursor = cursor }, ct).ConfigureAwait(false);
            tools.AddRange(page.Tools);
            cursor = page.NextCursor;
        }
        while (cursor is not null && tools.Count < 10_000);
        return tools;
    }

    /// <summary>The part of a listed tool that approval pins.</summary>
    public static ToolRecord RecordOf(Tool t) => new(t.Name, t.Description, t.InputSchema,
        t.Annotations is null ? null : JsonSerializer.SerializeToElement(t.Annotations, McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(ToolAnnotations))));

    /// <summary>Loads and verifies the manifest of <paramref name="server"/>: null with a reason when there is none or
    /// it is rejected.</summary>
    public (ToolManifest? Manifest, string? Rejected) LoadManifest(string server) => _trust.Load(server);

    private Snapshot Compute()
    {
        var known = _upstreams.Values.SelectMany(u => u.Listed.Select(t => new ToolIdentity(u.Name, t.Name))).ToList();
        var tools = new List<Tool>();
        var byName = new Dictionary<string, Exposed>(StringComparer.Ordinal);
        var withheld = new List<WithheldTool>();
        foreach (var u in _upstreams.Values.OrderBy(u => u.Name, StringComparer.Ordinal))
        {
            if (u.Error is not null && u.Listed.Count == 0)
            {
                withheld.Add(new WithheldTool(u.Name, "*", "unavailable", u.Error));
                continue;
            }
            var (manifest, rejected) = LoadManifest(u.Name);
            if (rejected is not null)
            {
                Report($"manifest|{u.Name}|{rejected}", "mcp.gateway.manifest", u.Name, "manifest-rejected", rejected,
                    $"airlock gateway: the manifest of '{u.Name}' was rejected ({rejected}): all its tools are withheld until it is re-approved");
            }
            var pinning = ToolPinning.Check(manifest, u.Listed.Select(RecordOf).ToList());
            for (var i = 0; i < u.Listed.Count; i++)
            {
                var listed = u.Listed[i];
                var pin = pinning.Tools[i];
                if (pin.State != PinState.Approved)
                {
                    var reason = rejected is not null ? "manifest-rejected" : pin.State.ToString().ToLowerInvariant();
                    var detail = rejected ?? pin.State switch
                    {
                        PinState.Unsigned => "no approved manifest: run airlock mcp approve " + u.Name,
                        PinState.Changed => $"changed since approval ({pin.Detail}); approved {pin.ApprovedDigest}, now {pin.Digest}",
                        _ => "added after approval; now " + pin.Digest,
                    };
                    withheld.Add(new WithheldTool(u.Name, listed.Name, reason, detail));
                    Report($"pin|{u.Name}|{listed.Name}|{reason}|{pin.Digest}", "mcp.gateway.withheld", u.Name + GatewayConfig.Separator + listed.Name, reason, detail,
                        $"airlock gateway: withheld {u.Name}{GatewayConfig.Separator}{listed.Name}: {reason}: {detail}");
                    continue;
                }
                var screened = Screen(u.Name, listed, pin.Digest, known);
                var exposedName = u.Name + GatewayConfig.Separator + listed.Name;
                if (screened.Blocked)
                {
                    var codes = Codes(screened.Findings.Where(f => f.Action == ScreeningAction.Block));
                    withheld.Add(new WithheldTool(u.Name, listed.Name, "screening", codes));
                    Report($"screen|{u.Name}|{listed.Name}|{pin.Digest}", "mcp.gateway.withheld", exposedName, "screening", codes,
                        $"airlock gateway: withheld {exposedName}: its definition is blocked by screening ({codes})");
                    continue;
                }
                var tool = new Tool
                {
                    Name = exposedName,
                    Description = screened.Tool.Description,
                    InputSchema = screened.Tool.InputSchema ?? listed.InputSchema,
                    Annotations = listed.Annotations,
                };
                tools.Add(tool);
                byName[exposedName] = new Exposed(u.Name, listed.Name, tool);
            }
        }
        tools.Add(new Tool
        {
            Name = StatusTool,
            Description = "Lists the upstream tools this gateway withholds (unsigned, changed since approval, added, blocked by screening) and why.",
            InputSchema = JsonDocument.Parse("""{"type":"object","properties":{}}""").RootElement,
            Annotations = new ToolAnnotations { ReadOnlyHint = true },
        });
        return new Snapshot(tools, byName, withheld);
    }

    private ToolScreeningResult Screen(string server, Tool t, string digest, IReadOnlyCollection<ToolIdentity> known)
    {
        // Screening depends on the definition and on the catalog (cross-tool references): cache per both.
        var key = server + "|" + digest + "|" + known.Count;
        lock (_screened)
        {
            if (_screened.TryGetValue(key, out var cached))
            {
                return cached;
            }
        }
        var r = RecordOf(t);
        var result = _screener.ScreenTool(new ToolDescriptor(server, t.Name, r.Description, r.InputSchema, r.Annotations), known);
        foreach (var f in result.Findings)
        {
            Report($"finding|{server}|{digest}|{f.Code}|{f.Field}|{f.Start}", "mcp.gateway.finding", server + GatewayConfig.Separator + t.Name,
                "description", $"code={f.Code} field={f.Field} severity={f.Severity} excerpt={f.Excerpt}", null, "screening:" + f.Code, Action(f));
        }
        lock (_screened)
        {
            _screened[key] = result;
        }
        return result;
    }

    /// <summary>Audits (and logs) an event once per key, not at every listing.</summary>
    private void Report(string key, string action, string target, string outcome, string detail, string? logLine, string? rule = null, string? decision = null)
    {
        lock (_reported)
        {
            if (!_reported.Add(key))
            {
                return;
            }
        }
        if (logLine is not null)
        {
            _log.WriteLine(logLine);
        }
        _audit.Record(action, target, decision ?? "denied", rule ?? "gateway:" + outcome, outcome, 0, detail);
    }

    private static string Action(Finding f) => f.Action.ToString().ToLowerInvariant();

    private static string Codes(IEnumerable<Finding> findings) => string.Join(",", findings.Select(f => f.Code).Distinct().Order(StringComparer.Ordinal));

    /// <summary>Calls an exposed tool on its upstream, screens the result and audits the call.</summary>
    public async Task<CallToolResult> CallToolAsync(string name, IDictionary<string, JsonElement>? arguments, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var digest = ArgumentDigest(arguments);
        if (name == StatusTool)
        {
            _audit.Record("mcp.gateway.call", name, "allowed", "gateway:builtin", "ok", clock.Elapsed.TotalMilliseconds, $"args=sha256:{digest}");
            return Status();
        }
        var snap = _snapshot;
        if (!snap.ByName.TryGetValue(name, out var exposed))
        {
            var w = snap.Withheld.FirstOrDefault(x => x.Server + GatewayConfig.Separator + x.Tool == name);
            var why = w is null ? $"no tool '{Clip(name)}' is exposed by this gateway" : $"tool '{name}' is withheld ({w.Reason}: {w.Detail})";
            _audit.Record("mcp.gateway.call", name, "denied", w is null ? "gateway:unknown-tool" : "gateway:" + w.Reason, "refused", clock.Elapsed.TotalMilliseconds,
                $"args=sha256:{digest}");
            return Error(why + (w is null ? "; list the tools again" : "; the operator re-approves with: airlock mcp approve " + w.Server));
        }
        var upstream = _upstreams[exposed.Server];
        if (upstream.Connection is not { } conn || conn.Exited.IsCompleted)
        {
            _audit.Record("mcp.gateway.call", name, "denied", "gateway:unavailable", "refused", clock.Elapsed.TotalMilliseconds,
                $"server={exposed.Server} tool={exposed.UpstreamName} args=sha256:{digest}");
            return Error($"upstream server '{exposed.Server}' is not running ({upstream.Error ?? "stopped"})");
        }
        CallToolResult result;
        try
        {
            result = await conn.Client.CallToolAsync(new CallToolRequestParams { Name = exposed.UpstreamName, Arguments = arguments }, ct).ConfigureAwait(false);
        }
        catch (McpException e)
        {
            _audit.Record("mcp.gateway.call", name, "allowed", "gateway:pinned", "upstream-error", clock.Elapsed.TotalMilliseconds,
                $"server={exposed.Server} tool={exposed.UpstreamName} args=sha256:{digest} error={Clip(e.Message)}");
            return Error($"upstream '{exposed.Server}' failed: {_screener.ScreenResult(e.Message).Text}");
        }
        var (screened, findings) = ScreenResult(result);
        foreach (var (field, f) in findings)
        {
            _audit.Record("mcp.gateway.finding", name, Action(f), "screening:" + f.Code, "result", 0,
                $"code={f.Code} field={field} severity={f.Severity} excerpt={f.Excerpt}");
        }
        var blocked = findings.Where(x => x.Finding.Action == ScreeningAction.Block).Select(x => x.Finding).ToList();
        var outcome = blocked.Count > 0 ? "blocked:" + Codes(blocked) : result.IsError is true ? "tool-error" : "ok";
        _audit.Record("mcp.gateway.call", name, blocked.Count > 0 ? "denied" : "allowed", blocked.Count > 0 ? "gateway:screening" : "gateway:pinned", outcome,
            clock.Elapsed.TotalMilliseconds,
            $"server={exposed.Server} tool={exposed.UpstreamName} args=sha256:{digest}{(findings.Count > 0 ? " findings=" + Codes(findings.Select(x => x.Finding)) : "")}");
        if (blocked.Count > 0)
        {
            return Error($"the result of {name} was withheld by screening: {Codes(blocked)}");
        }
        return screened;
    }

    private CallToolResult Status()
    {
        var snap = _snapshot;
        var json = new JsonObject
        {
            ["exposed"] = new JsonArray([.. snap.Tools.Select(t => (JsonNode)JsonValue.Create(t.Name))]),
            ["withheld"] = new JsonArray([.. snap.Withheld.Select(w => (JsonNode)new JsonObject
            {
                ["server"] = w.Server,
                ["tool"] = w.Tool,
                ["reason"] = w.Reason,
                ["detail"] = w.Detail,
            })]),
        };
        var text = json.ToJsonString();
        return new CallToolResult { Content = [new TextContentBlock { Text = text }], StructuredContent = JsonDocument.Parse(text).RootElement };
    }

    /// <summary>Screens every text the agent would see: text blocks, embedded text resources, resource-link
    /// descriptions and every string of the structured content.</summary>
    private (CallToolResult Result, List<(string Field, Finding Finding)> Findings) ScreenResult(CallToolResult r)
    {
        var findings = new List<(string, Finding)>();
        string S(string text, string field)
        {
            var s = _screener.ScreenResult(text);
            foreach (var f in s.Findings)
            {
                findings.Add((field, f));
            }
            return s.Text;
        }
        var content = new List<ContentBlock>(r.Content.Count);
        for (var i = 0; i < r.Content.Count; i++)
        {
            var field = $"content[{i}]";
            content.Add(r.Content[i] switch
            {
                TextContentBlock t => new TextContentBlock { Text = S(t.Text, field), Annotations = t.Annotations },
                EmbeddedResourceBlock { Resource: TextResourceContents tr } e => new EmbeddedResourceBlock
                {
                    Resource = new TextResourceContents { Uri = tr.Uri, MimeType = tr.MimeType, Text = S(tr.Text, field + ".resource.text") },
                    Annotations = e.Annotations,
                },
                ResourceLinkBlock l => new ResourceLinkBlock
                {
                    Uri = l.Uri,
                    Name = S(l.Name, field + ".name"),
                    Title = l.Title is null ? null : S(l.Title, field + ".title"),
                    Description = l.Description is null ? null : S(l.Description, field + ".description"),
                    MimeType = l.MimeType,
                    Size = l.Size,
                },
                var other => other,
            });
        }
        JsonElement? structured = null;
        if (r.StructuredContent is { } sc)
        {
            var node = JsonNode.Parse(sc.GetRawText());
            node = ScreenNode(node, "structuredContent", S);
            structured = JsonSerializer.SerializeToElement(node, McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(JsonNode)));
        }
        return (new CallToolResult { Content = content, StructuredContent = structured, IsError = r.IsError, Meta = r.Meta }, findings);
    }

    private static JsonNode? ScreenNode(JsonNode? node, string path, Func<string, string, string> screen)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var key in o.Select(kv => kv.Key).ToList())
                {
                    o[key] = ScreenNode(o[key], path + "." + key, screen);
                }
                return o;
            case JsonArray a:
                for (var i = 0; i < a.Count; i++)
                {
                    a[i] = ScreenNode(a[i]?.DeepClone(), $"{path}[{i}]", screen);
                }
                return a;
            case JsonValue v when v.TryGetValue<string>(out var s):
                return JsonValue.Create(screen(s, path));
            default:
                return node;
        }
    }

    /// <summary>SHA-256 of the arguments as canonical JSON (keys sorted, no whitespace); never the arguments.</summary>
    public static string ArgumentDigest(IDictionary<string, JsonElement>? arguments)
    {
        if (arguments is null || arguments.Count == 0)
        {
            return Convert.ToHexStringLower(SHA256.HashData("{}"u8));
        }
        var o = new JsonObject();
        foreach (var (k, v) in arguments)
        {
            o[k] = JsonNode.Parse(v.GetRawText());
        }
        var canonical = ManifestCanonical.CanonicalValue(JsonSerializer.SerializeToElement(o, McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(JsonObject)))) ?? "{}";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));
    }

    private static CallToolResult Error(string message) => new() { IsError = true, Content = [new TextContentBlock { Text = "airlock gateway: " + message }] };

    private static string Clip(string s) => s.Length > 80 ? s[..80] + "…" : s;

    public async ValueTask DisposeAsync()
    {
        _disposing = true;
        _watcher?.Dispose();
        await Task.WhenAll(_upstreams.Values.Where(u => u.Connection is not null).Select(async u =>
        {
            try
            {
                await u.Connection!.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                _log.WriteLine($"airlock gateway: stopping upstream '{u.Name}': {e.Message}");
            }
        })).ConfigureAwait(false);
        await _audit.FlushAsync().ConfigureAwait(false);
        _refreshGate.Dispose();
    }
}
