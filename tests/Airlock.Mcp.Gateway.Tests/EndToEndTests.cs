using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using Airlock.Mcp.Tests;

namespace Airlock.Mcp.Gateway.Tests;

/// <summary>The published <c>airlock mcp gateway</c> in front of the real server-filesystem, server-everything and a
/// probe server, each in its own sandbox, driven by the MCP Inspector CLI and the C# SDK client.</summary>
public sealed class EndToEndTests : IDisposable
{
    private readonly GatewayWorld _w = new();

    [Fact]
    public async Task Unapproved_servers_expose_nothing_then_approved_tools_work_end_to_end()
    {
        _w.WriteConfig(["fs", "everything"]);

        // Before approval: only the gateway's own status tool, and it says why.
        var before = Peers.Json(await _w.InspectorAsync("--method", "tools/list"));
        Assert.Equal([McpGateway.StatusTool], before.GetProperty("tools").EnumerateArray().Select(t => t.GetProperty("name").GetString()));

        await _w.ApproveAsync("fs");
        await _w.ApproveAsync("everything");

        var list = Peers.Json(await _w.InspectorAsync("--method", "tools/list"));
        var names = list.GetProperty("tools").EnumerateArray().Select(t => t.GetProperty("name").GetString()!).ToList();
        Assert.Contains("fs__read_text_file", names);
        Assert.Contains("fs__list_directory", names);
        Assert.Contains("everything__echo", names);
        Assert.Contains("everything__get-sum", names);
        Assert.All(names, n => Assert.True(n.StartsWith("fs__", StringComparison.Ordinal) || n.StartsWith("everything__", StringComparison.Ordinal) || n == McpGateway.StatusTool, n));

        // Inspector → gateway → server-filesystem (in its sandbox, /data mounted read-only) → back.
        var read = Peers.Json(await _w.InspectorAsync("--method", "tools/call", "--tool-name", "fs__read_text_file", "--tool-arg", "path=/data/hello.txt"));
        Assert.Equal("hello from the mounted dir\n", read.GetProperty("content")[0].GetProperty("text").GetString());
        var dir = Peers.Json(await _w.InspectorAsync("--method", "tools/call", "--tool-name", "fs__list_directory", "--tool-arg", "path=/data"));
        Assert.Contains("hello.txt", dir.GetProperty("content")[0].GetProperty("text").GetString(), StringComparison.Ordinal);
        // The mount is read-only: the server's own write fails inside the sandbox.
        var write = Peers.Json(await _w.InspectorAsync("--method", "tools/call", "--tool-name", "fs__write_file", "--tool-arg", "path=/data/new.txt", "--tool-arg", "content=x"));
        Assert.True(write.GetProperty("isError").GetBoolean(), write.ToString());
        Assert.False(File.Exists(Path.Combine(_w.Data, "new.txt")));

        // SDK client → gateway → server-everything.
        await using (var c = await _w.ConnectAsync())
        {
            var echo = await c.CallToolAsync("everything__echo", new Dictionary<string, object?> { ["message"] = "round trip" });
            Assert.True(echo.IsError is not true, GatewayWorld.Text(echo));
            Assert.Contains("round trip", GatewayWorld.Text(echo), StringComparison.Ordinal);
            var sum = await c.CallToolAsync("everything__get-sum", new Dictionary<string, object?> { ["a"] = 2, ["b"] = 40 });
            Assert.Contains("42", GatewayWorld.Text(sum), StringComparison.Ordinal);
            var unknown = await c.CallToolAsync("fs__nope");
            Assert.True(unknown.IsError);
        }

        // Every call is in the audit log: tenant, tool, argument digest, decision, outcome — never the arguments.
        await Airlock.Server.Tests.Daemon.EventuallyAsync(async () => (await _w.AuditAsync()).Contains("everything__get-sum", StringComparison.Ordinal), "the calls to be audited");
        var audit = await _w.AuditAsync();
        var calls = audit.Split('\n').Where(l => l.Contains("mcp.gateway.call", StringComparison.Ordinal)).ToList();
        Assert.Contains(calls, l => l.Contains("fs__read_text_file", StringComparison.Ordinal) && l.Contains("allowed", StringComparison.Ordinal));
        Assert.Contains(calls, l => l.Contains("everything__echo", StringComparison.Ordinal) && l.Contains(" ok", StringComparison.Ordinal));
        Assert.Contains(calls, l => l.Contains("fs__nope", StringComparison.Ordinal) && l.Contains("denied", StringComparison.Ordinal));
        var echoDigest = McpGateway.ArgumentDigest(new Dictionary<string, JsonElement> { ["message"] = JsonSerializer.SerializeToElement("round trip") });
        Assert.Contains(calls, l => l.Contains("args=sha256:" + echoDigest, StringComparison.Ordinal));
        Assert.DoesNotContain("round trip", audit, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Upstream_cannot_read_host_files_outside_its_mounts_open_connections_or_see_the_host_environment()
    {
        // A canary in a fresh directory that is mounted nowhere.
        var elsewhere = Path.Combine("/var/tmp", "airlock-gw-canary-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(elsewhere);
        var canary = Path.Combine(elsewhere, "canary.txt");
        GatewayWorld.WriteFile(canary, "CANARY-" + Guid.NewGuid());
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var accepted = listener.AcceptTcpClientAsync();
        try
        {
            _w.SetProbeTools(
                new ProbeTool("read", "Reads a file.", "read", InputSchema: Schema("path")),
                new ProbeTool("connect", "Connects to a TCP port on 127.0.0.1.", "connect", InputSchema: Schema("port")),
                new ProbeTool("env", "Returns its environment.", "env"));
            _w.WriteConfig(["fs", "probe"]);
            await _w.ApproveAsync("probe");
            await _w.ApproveAsync("fs");
            await using var c = await _w.ConnectAsync();

            var read = await c.CallToolAsync("probe__read", new Dictionary<string, object?> { ["path"] = canary });
            Assert.True(read.IsError, GatewayWorld.Text(read));
            Assert.Contains("ENOENT", GatewayWorld.Text(read), StringComparison.Ordinal);
            Assert.DoesNotContain("CANARY-", GatewayWorld.Text(read), StringComparison.Ordinal);
            // Nor through the filesystem server (its own check, and beneath it the sandbox).
            var fsRead = await c.CallToolAsync("fs__read_text_file", new Dictionary<string, object?> { ["path"] = canary });
            Assert.True(fsRead.IsError);
            Assert.DoesNotContain("CANARY-", GatewayWorld.Text(fsRead), StringComparison.Ordinal);
            // The mounted file is readable: the probe works, only the boundary refuses.
            var ok = await c.CallToolAsync("probe__read", new Dictionary<string, object?> { ["path"] = "/conf/tools.json" });
            Assert.True(ok.IsError is not true, GatewayWorld.Text(ok));

            var connect = await c.CallToolAsync("probe__connect", new Dictionary<string, object?> { ["port"] = port });
            Assert.StartsWith("error ", GatewayWorld.Text(connect), StringComparison.Ordinal);
            await Task.Delay(500);
            Assert.False(accepted.IsCompleted, "the host listener accepted a connection from the sandboxed server");

            var env = JsonDocument.Parse(GatewayWorld.Text(await c.CallToolAsync("probe__env"))).RootElement;
            Assert.Equal("from-config", env.GetProperty("PROBE_MARK").GetString());
            Assert.False(env.TryGetProperty("GATEWAY_HOST_SECRET", out _), "the host environment leaked into the upstream");
            Assert.DoesNotContain(GatewayWorld.HostSecret, env.GetRawText(), StringComparison.Ordinal);
        }
        finally
        {
            listener.Stop();
            Directory.Delete(elsewhere, recursive: true);
        }
    }

    [Fact]
    public async Task AllowDomains_gives_the_upstream_exactly_those_names_through_the_egress_proxy()
    {
        // A host HTTP server on loopback; the sandbox reaches it only by the allowed name, pinned to 127.0.0.1 (no DNS).
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var served = 0;
        using var stop = new CancellationTokenSource();
        _ = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var client = await listener.AcceptTcpClientAsync(stop.Token);
                Interlocked.Increment(ref served);
                var stream = client.GetStream();
                var buf = new byte[4096];
                _ = await stream.ReadAsync(buf, stop.Token); // the request head: one read is enough for a tiny GET
                await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nfrom-host"u8.ToArray(), stop.Token);
            }
        }, stop.Token);
        try
        {
            _w.SetProbeTools(new ProbeTool("get", "Fetches a URL through the proxy.", "proxyget", InputSchema: Schema("url")));
            _w.WriteConfig(["probe"], probeExtra: $$"""
                    allowDomains: [api.gateway.test:{{port}}]
                    resolve: [{ host: api.gateway.test, port: {{port}}, address: 127.0.0.1 }]
                """);
            await _w.ApproveAsync("probe");
            await using (var c = await _w.ConnectAsync())
            {
                var ok = GatewayWorld.Text(await c.CallToolAsync("probe__get", new Dictionary<string, object?> { ["url"] = $"http://api.gateway.test:{port}/" }));
                Assert.Contains("200 OK", ok, StringComparison.Ordinal);
                Assert.Contains("from-host", ok, StringComparison.Ordinal);
                var denied = GatewayWorld.Text(await c.CallToolAsync("probe__get", new Dictionary<string, object?> { ["url"] = $"http://other.gateway.test:{port}/" }));
                Assert.DoesNotContain("from-host", denied, StringComparison.Ordinal);
                Assert.Contains("403", denied, StringComparison.Ordinal);
                Assert.Equal(1, Volatile.Read(ref served));
            }
            await Airlock.Server.Tests.Daemon.EventuallyAsync(async () => (await _w.AuditAsync()).Contains("mcp.gateway.egress", StringComparison.Ordinal), "egress to be audited");
            var egress = (await _w.AuditAsync()).Split('\n').Where(l => l.Contains("mcp.gateway.egress", StringComparison.Ordinal)).ToList();
            Assert.Contains(egress, l => l.Contains("allowed", StringComparison.Ordinal));
            Assert.Contains(egress, l => l.Contains("denied", StringComparison.Ordinal) && l.Contains("no-allow-rule", StringComparison.Ordinal));

            // Without allowDomains the same server has no proxy and no route at all.
            _w.WriteConfig(["probe"]);
            await _w.ApproveAsync("probe");
            await using (var c = await _w.ConnectAsync())
            {
                var none = GatewayWorld.Text(await c.CallToolAsync("probe__get", new Dictionary<string, object?> { ["url"] = $"http://api.gateway.test:{port}/" }));
                Assert.StartsWith("error ", none, StringComparison.Ordinal);
            }
            Assert.Equal(1, Volatile.Read(ref served));
        }
        finally
        {
            await stop.CancelAsync();
            listener.Stop();
        }
    }

    [Fact]
    public async Task Http_needs_the_bearer_token()
    {
        _w.WriteConfig(["everything"]);
        await _w.ApproveAsync("everything");
        var port = Peers.FreePort();
        var token = Guid.NewGuid().ToString("N");
        var psi = new System.Diagnostics.ProcessStartInfo(Airlock.Server.Tests.Daemon.Cli) { RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = true };
        foreach (var a in new[] { "mcp", "gateway", _w.ConfigPath, "--data-dir", _w.DataDir, "--http", $"127.0.0.1:{port}" })
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["AIRLOCK_HOME"] = _w.Home;
        psi.Environment["AIRLOCK_GATEWAY_TOKEN"] = token;
        using var p = System.Diagnostics.Process.Start(psi)!;
        try
        {
            var url = $"http://127.0.0.1:{port}/mcp";
            using var http = new HttpClient();
            await Airlock.Server.Tests.Daemon.EventuallyAsync(async () =>
            {
                try
                {
                    using var r = await http.GetAsync(url);
                    return r.StatusCode == HttpStatusCode.Unauthorized;
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            }, "the gateway to listen");
            var anonymous = await Peers.InspectorAsync([url, "--transport", "http", "--method", "tools/list"]);
            Assert.NotEqual(0, anonymous.ExitCode);
            var wrong = await Peers.InspectorAsync([url, "--transport", "http", "--header", "Authorization: Bearer nope-nope-nope-nope", "--method", "tools/list"]);
            Assert.NotEqual(0, wrong.ExitCode);
            var call = Peers.Json(await Peers.InspectorAsync([url, "--transport", "http", "--header", "Authorization: Bearer " + token,
                "--method", "tools/call", "--tool-name", "everything__echo", "--tool-arg", "message=over http"]));
            Assert.Contains("over http", call.GetProperty("content")[0].GetProperty("text").GetString(), StringComparison.Ordinal);
        }
        finally
        {
            // SIGTERM: the gateway stops its upstreams and destroys their sandboxes before it exits.
            using (var kill = System.Diagnostics.Process.Start("kill", ["-TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await p.WaitForExitAsync(cts.Token);
            Assert.Equal(0, p.ExitCode);
        }
    }

    internal static JsonObject Schema(string property) => new()
    {
        ["type"] = "object",
        ["properties"] = new JsonObject { [property] = new JsonObject { ["type"] = property == "port" ? "number" : "string" } },
        ["required"] = new JsonArray(property),
    };

    public void Dispose() => _w.Dispose();
}
