using System.Text.Json;
using Airlock.Server.Tests;
using ModelContextProtocol.Client;

namespace Airlock.Mcp.Tests;

/// <summary><c>airlock mcp</c> on stdio without a daemon: sandboxes run in the server process (root, embedded state
/// directory per test), driven by the MCP Inspector CLI and by the C# SDK client.</summary>
public sealed class StdioTests : IDisposable
{
    private readonly string _home = Path.Combine("/var/tmp", "airlock-mcp-test-" + Guid.NewGuid().ToString("N")[..8]);

    private Dictionary<string, string> Env => Peers.LocalEnv(_home);

    [Fact]
    public async Task Inspector_lists_exactly_the_seven_tools()
    {
        var json = Peers.Json(await Peers.InspectorAsync([.. Peers.StdioServer("--allow-template", "python"), "--method", "tools/list"], Env));
        var tools = json.GetProperty("tools").EnumerateArray().ToList();
        Assert.Equal(McpAssert.SevenTools, tools.Select(t => t.GetProperty("name").GetString()).Order());
        foreach (var t in tools)
        {
            var description = t.GetProperty("description").GetString()!;
            Assert.InRange(description.Length, 20, 200);
            Assert.Equal("object", t.GetProperty("outputSchema").GetProperty("type").GetString());
        }
    }

    [Fact]
    public async Task Inspector_run_code_python_prints()
    {
        var json = Peers.Json(await Peers.InspectorAsync([.. Peers.StdioServer("--allow-template", "python"),
            "--method", "tools/call", "--tool-name", "run_code", "--tool-arg", "language=python", "--tool-arg", "code=print(6*7)"], Env));
        var s = json.GetProperty("structuredContent");
        Assert.Equal("42\n", s.GetProperty("stdout").GetString());
        Assert.Equal(0, s.GetProperty("exitCode").GetInt32());
        Assert.Equal(JsonValueKind.Null, s.GetProperty("killedReason").ValueKind);
        Assert.False(json.TryGetProperty("isError", out var e) && e.GetBoolean());
    }

    [Fact]
    public async Task Inspector_template_not_allowed_is_refused_clearly()
    {
        var json = Peers.Json(await Peers.InspectorAsync([.. Peers.StdioServer("--allow-template", "python"),
            "--method", "tools/call", "--tool-name", "create_sandbox", "--tool-arg", "template=shell"], Env));
        Assert.True(json.GetProperty("isError").GetBoolean());
        var text = json.GetProperty("content")[0].GetProperty("text").GetString()!;
        Assert.Contains("template 'shell' is not allowed on this server (allowed: python)", text, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_home, "sandboxes")) && Directory.GetDirectories(Path.Combine(_home, "sandboxes")).Length > 0,
            "a refused create left a sandbox behind");
    }

    [Fact]
    public async Task Javascript_runs_in_a_v8_isolate_only_when_its_template_is_allowed()
    {
        var refused = Peers.Json(await Peers.InspectorAsync([.. Peers.StdioServer("--allow-template", "python"),
            "--method", "tools/call", "--tool-name", "run_code", "--tool-arg", "language=javascript", "--tool-arg", "code=console.log(6*7)"], Env));
        Assert.True(refused.GetProperty("isError").GetBoolean());
        Assert.Contains("template 'v8', which this server does not allow", refused.GetProperty("content")[0].GetProperty("text").GetString(), StringComparison.Ordinal);

        var v8 = Peers.Json(await Peers.InspectorAsync([.. Peers.StdioServer("--allow-template", "v8"),
            "--method", "tools/call", "--tool-name", "run_code", "--tool-arg", "language=javascript", "--tool-arg", "code=console.log(6*7, typeof require)"], Env));
        Assert.Equal("42 undefined\n", v8.GetProperty("structuredContent").GetProperty("stdout").GetString());

        // The operator may bind it to a template whose root filesystem has node (the built-in shell template has the host's /usr).
        var bound = Peers.Json(await Peers.InspectorAsync([.. Peers.StdioServer("--allow-template", "shell", "--language", "javascript=shell"),
            "--method", "tools/call", "--tool-name", "run_code", "--tool-arg", "language=javascript", "--tool-arg", "code=console.log(6*7)"], Env));
        Assert.Equal("42\n", bound.GetProperty("structuredContent").GetProperty("stdout").GetString());
    }

    [Fact]
    public async Task Without_an_allowed_template_the_server_does_not_start()
    {
        using var d = new DaemonlessCli();
        var r = await d.RunAsync(["mcp"], Env);
        Assert.Equal(125, r.ExitCode);
        Assert.Contains("no template is allowed for MCP clients", r.Stderr, StringComparison.Ordinal);
        Assert.Contains("--allow-template", r.Stderr, StringComparison.Ordinal);
        Assert.Equal("", r.Stdout);

        var typo = await d.RunAsync(["mcp", "--allow-template", "pyhton"], Env);
        Assert.Equal(125, typo.ExitCode);
        Assert.Contains("template 'pyhton' does not exist", typo.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sdk_client_round_trip_and_the_session_end_destroys_its_sandboxes()
    {
        var transport = new StdioClientTransport(new StdioClientTransportOptions
        {
            Command = Daemon.Cli,
            Arguments = ["mcp", "--allow-template", "python"],
            EnvironmentVariables = new Dictionary<string, string?> { ["AIRLOCK_HOME"] = _home, ["AIRLOCK_HOST"] = null, ["AIRLOCK_TOKEN"] = null },
            Name = "airlock",
        });
        string sandbox;
        await using (var client = await McpClient.CreateAsync(transport))
        {
            Assert.Equal("airlock", client.ServerInfo?.Name);
            sandbox = (await McpAssert.OkAsync(client, "create_sandbox", new() { ["template"] = "python" })).GetProperty("sandbox").GetString()!;
            await Rounds.FilesAndExecAsync(client, sandbox);
            var kept = (await McpAssert.OkAsync(client, "create_sandbox", new() { ["template"] = "python" })).GetProperty("sandbox").GetString()!;
            Assert.NotEqual(sandbox, kept);
            Assert.Single(LiveSandboxDirs());
        }
        // The client closed stdin: the server destroyed what the session still held, and exited.
        await Daemon.EventuallyAsync(() => Task.FromResult(LiveSandboxDirs().Count == 0), "the session's sandboxes to be destroyed at its end");
    }

    private List<string> LiveSandboxDirs() => Directory.Exists(Path.Combine(_home, "sandboxes"))
        ? Directory.GetDirectories(Path.Combine(_home, "sandboxes")).ToList() : [];

    public void Dispose()
    {
        var mounted = File.ReadLines("/proc/self/mountinfo").Any(l => l.Split(' ')[4].StartsWith(_home + "/", StringComparison.Ordinal));
        if (!mounted && Directory.Exists(_home))
        {
            Directory.Delete(_home, recursive: true);
        }
    }

    /// <summary>Runs the published CLI with no daemon configured.</summary>
    private sealed class DaemonlessCli : IDisposable
    {
        public async Task<Run> RunAsync(string[] args, Dictionary<string, string> env)
        {
            var psi = new System.Diagnostics.ProcessStartInfo(Daemon.Cli) { RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = true };
            foreach (var a in args)
            {
                psi.ArgumentList.Add(a);
            }
            psi.Environment.Remove("AIRLOCK_HOST");
            foreach (var (k, v) in env)
            {
                psi.Environment[k] = v;
            }
            using var p = System.Diagnostics.Process.Start(psi)!;
            p.StandardInput.Close();
            var so = p.StandardOutput.ReadToEndAsync();
            var se = p.StandardError.ReadToEndAsync();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await p.WaitForExitAsync(cts.Token);
            return new Run(p.ExitCode, await so, await se);
        }

        public void Dispose()
        {
        }
    }
}
