using System.Net;
using System.Text.Json;
using Airlock.Client;
using Airlock.Server.Tests;
using ModelContextProtocol.Client;

namespace Airlock.Mcp.Tests;

/// <summary><c>/mcp</c> on a real daemon (loopback TCP, bearer tokens), driven by the MCP Inspector CLI and the C#
/// SDK client; the daemon's audit log is read back through its API.</summary>
public sealed class HttpTests
{
    private static async Task<McpClient> ConnectAsync(string url, string token) =>
        await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(url),
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = "Bearer " + token },
        }));

    private static string[] Inspector(string url, string token, params string[] args) =>
        [url, "--transport", "http", "--header", "Authorization: Bearer " + token, .. args];

    [Fact]
    public async Task Inspector_lists_the_seven_tools_and_runs_code_over_http()
    {
        var (d, url) = await Peers.DaemonAsync("python");
        await using var _ = d;
        var token = await d.TokenAsync("acme");

        var list = Peers.Json(await Peers.InspectorAsync(Inspector(url, token, "--method", "tools/list")));
        Assert.Equal(McpAssert.SevenTools, list.GetProperty("tools").EnumerateArray().Select(t => t.GetProperty("name").GetString()).Order());

        var run = Peers.Json(await Peers.InspectorAsync(Inspector(url, token, "--method", "tools/call", "--tool-name", "run_code",
            "--tool-arg", "language=python", "--tool-arg", "code=print('hello from mcp')")));
        Assert.Equal("hello from mcp\n", run.GetProperty("structuredContent").GetProperty("stdout").GetString());

        var refused = Peers.Json(await Peers.InspectorAsync(Inspector(url, token, "--method", "tools/call", "--tool-name", "create_sandbox",
            "--tool-arg", "template=shell")));
        Assert.True(refused.GetProperty("isError").GetBoolean());
        Assert.Contains("template 'shell' is not allowed on this server (allowed: python)", refused.GetProperty("content")[0].GetProperty("text").GetString(), StringComparison.Ordinal);
        using var api = d.Client(token);
        Assert.Empty(await api.ListSandboxesAsync());
    }

    [Fact]
    public async Task Mcp_without_a_token_is_401_and_without_the_sandbox_scope_403()
    {
        var (d, url) = await Peers.DaemonAsync("python");
        await using var _ = d;
        using var http = new HttpClient();
        const string Init = """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}""";
        using var anonymous = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(Init, System.Text.Encoding.UTF8, "application/json") };
        anonymous.Headers.Accept.ParseAdd("application/json, text/event-stream");
        using var r = await http.SendAsync(anonymous);
        Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        Assert.Equal("Bearer", r.Headers.WwwAuthenticate.ToString());
        Assert.Contains("\"code\":\"unauthorized\"", await r.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var auditOnly = await d.TokenAsync("acme", null, "audit");
        using var scoped = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(Init, System.Text.Encoding.UTF8, "application/json") };
        scoped.Headers.Accept.ParseAdd("application/json, text/event-stream");
        scoped.Headers.Authorization = new("Bearer", auditOnly);
        using var f = await http.SendAsync(scoped);
        Assert.Equal(HttpStatusCode.Forbidden, f.StatusCode);

        // The Inspector as a client: refused before any MCP exchange.
        var inspector = await Peers.InspectorAsync([url, "--transport", "http", "--method", "tools/list"]);
        Assert.NotEqual(0, inspector.ExitCode);
        Assert.Contains("401", inspector.Stdout + inspector.Stderr, StringComparison.Ordinal);

        using var api = d.Client(auditOnly);
        var denied = await api.EventsAsync(kind: "mcp.http");
        Assert.Contains(denied, e => e.Decision == "denied" && e.Rule == "scope:sandbox" && e.Tenant == "acme");
        // A request without a token has no tenant: only the operator's view of the log shows it.
        var tail = await d.RunCliAsync(["audit", "tail", "--data-dir", d.DataDir, "-n", "100"]);
        Assert.Contains(tail.Stdout.Split('\n'), l => l.Contains("mcp.http", StringComparison.Ordinal) && l.Contains("denied", StringComparison.Ordinal)
            && l.Contains("token:missing", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Sdk_client_round_trip_timeout_and_audit()
    {
        var (d, url) = await Peers.DaemonAsync("python");
        await using var _ = d;
        var token = await d.TokenAsync("acme");
        using var api = d.Client(token);
        string kept;
        await using (var client = await ConnectAsync(url, token))
        {
            var created = await McpAssert.OkAsync(client, "create_sandbox", new() { ["template"] = "python" });
            var sandbox = created.GetProperty("sandbox").GetString()!;
            Assert.Equal("python", created.GetProperty("template").GetString());
            Assert.InRange(created.GetProperty("expiresAt").GetDateTimeOffset(), DateTimeOffset.UtcNow.AddMinutes(50), DateTimeOffset.UtcNow.AddMinutes(61));
            // The sandbox is the tenant's on the daemon, with the MCP server's lifetime as its shutdown time.
            var s = await api.GetSandboxAsync(sandbox);
            Assert.NotNull(s.Spec.ShutdownTime);
            await Rounds.FilesAndExecAsync(client, sandbox);
            await Daemon.EventuallyAsync(async () => (await api.ListSandboxesAsync()).All(x => x.Name != sandbox), "destroy_sandbox to delete it on the daemon");

            var slow = await McpAssert.OkAsync(client, "run_code", new() { ["language"] = "python", ["code"] = "import time\nprint('start', flush=True)\ntime.sleep(30)", ["timeout"] = 1 });
            Assert.Equal("timeout", slow.GetProperty("killedReason").GetString());
            Assert.Equal("start\n", slow.GetProperty("stdout").GetString());
            Assert.NotEqual(0, slow.GetProperty("exitCode").GetInt32());

            var tooLong = await McpAssert.ErrorAsync(client, "exec", new() { ["sandbox"] = "mcp-nosuch", ["command"] = "true", ["timeout"] = 5 });
            Assert.Contains("was not created in this MCP session", tooLong, StringComparison.Ordinal);

            kept = (await McpAssert.OkAsync(client, "create_sandbox", new() { ["template"] = "python" })).GetProperty("sandbox").GetString()!;
            Assert.Contains(await api.ListSandboxesAsync(), x => x.Name == kept);
        }
        // Disposing the client ends the session (DELETE): its sandboxes are destroyed on the daemon.
        await Daemon.EventuallyAsync(async () => (await api.ListSandboxesAsync()).All(x => x.Name != kept), "the ended session's sandbox to be destroyed");

        var events = await api.EventsAsync(limit: 1000, kind: "mcp.");
        var tools = events.Where(e => e.Action != "mcp.http").ToList();
        foreach (var action in new[] { "mcp.create_sandbox", "mcp.write_file", "mcp.read_file", "mcp.list_files", "mcp.exec", "mcp.destroy_sandbox", "mcp.run_code" })
        {
            Assert.Contains(tools, e => e.Action == action && e.Tenant == "acme" && e.Decision == "allowed");
        }
        Assert.Contains(tools, e => e.Action == "mcp.exec" && e.Outcome == "exit:3");
        Assert.Contains(tools, e => e.Action == "mcp.run_code" && e.Outcome.EndsWith("killed:timeout", StringComparison.Ordinal));
        Assert.Contains(tools, e => e.Action == "mcp.exec" && e.Decision == "denied" && e.Rule == "mcp:session-owner" && e.Target == "mcp-nosuch");
        foreach (var e in tools)
        {
            Assert.Matches("args=sha256:[0-9a-f]{64}", e.Detail);
            Assert.True(e.DurationMs >= 0);
            // Never the code or file contents themselves.
            Assert.DoesNotContain("time.sleep", e.Detail, StringComparison.Ordinal);
            Assert.DoesNotContain("hi from", e.Detail, StringComparison.Ordinal);
        }
        var runDigest = Server.AirlockTools.Digest(new() { ["code"] = "import time\nprint('start', flush=True)\ntime.sleep(30)", ["language"] = "python", ["timeout"] = 1 });
        Assert.Contains(tools, e => e.Action == "mcp.run_code" && e.Detail.Contains("args=sha256:" + runDigest, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_session_cannot_touch_another_tenants_or_sessions_sandboxes()
    {
        var (d, url) = await Peers.DaemonAsync("python");
        await using var _ = d;
        var acme = await d.TokenAsync("acme");
        var other = await d.TokenAsync("other");
        await using var a = await ConnectAsync(url, acme);
        await using var b = await ConnectAsync(url, other);
        await using var a2 = await ConnectAsync(url, acme);
        var sandbox = (await McpAssert.OkAsync(a, "create_sandbox", new() { ["template"] = "python" })).GetProperty("sandbox").GetString()!;

        foreach (var c in new[] { b, a2 })
        {
            var e = await McpAssert.ErrorAsync(c, "read_file", new() { ["sandbox"] = sandbox, ["path"] = "x" });
            Assert.Contains("was not created in this MCP session", e, StringComparison.Ordinal);
            e = await McpAssert.ErrorAsync(c, "destroy_sandbox", new() { ["sandbox"] = sandbox });
            Assert.Contains("was not created in this MCP session", e, StringComparison.Ordinal);
        }
        var still = await McpAssert.OkAsync(a, "exec", new() { ["sandbox"] = sandbox, ["command"] = "echo alive" });
        Assert.Equal("alive\n", still.GetProperty("stdout").GetString());

        // Another tenant's token cannot ride on acme's session id either.
        using var http = new HttpClient();
        var sessionId = a.SessionId!;
        using var hijack = new HttpRequestMessage(HttpMethod.Post, url)
        {
            Content = new StringContent("""{"jsonrpc":"2.0","id":99,"method":"tools/call","params":{"name":"exec","arguments":{"sandbox":""" + "\"" + sandbox + "\"" + ""","command":"id"}}}""", System.Text.Encoding.UTF8, "application/json"),
        };
        hijack.Headers.Accept.ParseAdd("application/json, text/event-stream");
        hijack.Headers.Authorization = new("Bearer", other);
        hijack.Headers.Add("Mcp-Session-Id", sessionId);
        hijack.Headers.Add("MCP-Protocol-Version", a.NegotiatedProtocolVersion);
        using var r = await http.SendAsync(hijack);
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode is HttpStatusCode.Forbidden or HttpStatusCode.NotFound || body.Contains("another tenant", StringComparison.Ordinal),
            $"{(int)r.StatusCode}: {body}");
        Assert.DoesNotContain("uid=", body, StringComparison.Ordinal);
    }
}
