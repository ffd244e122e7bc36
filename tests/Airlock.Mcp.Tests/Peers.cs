using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Airlock.Server.Tests;

namespace Airlock.Mcp.Tests;

/// <summary>
/// The real peers these tests talk to: the MCP Inspector CLI (installed by scripts/npm.sh into artifacts/npm), the
/// published <c>airlock mcp</c> (stdio), and a daemon serving <c>/mcp</c> on loopback TCP.
/// </summary>
public static class Peers
{
    public static string Npm => Path.Combine(Daemon.RepoRoot, "artifacts", "npm");

    public static string InspectorBin => Path.Combine(Npm, "node_modules", ".bin", "mcp-inspector-cli");

    /// <summary>The Inspector resolves its own package.json relative to the working directory: run it from its build
    /// directory.</summary>
    private static string InspectorDir => Path.Combine(Npm, "node_modules", "@modelcontextprotocol", "inspector-cli", "build");

    /// <summary>Runs <c>mcp-inspector-cli --cli ARGS</c>; <paramref name="env"/> is what a stdio server inherits.</summary>
    public static async Task<Run> InspectorAsync(IEnumerable<string> args, IDictionary<string, string>? env = null, TimeSpan? timeout = null)
    {
        Assert.True(File.Exists(InspectorBin), $"the MCP Inspector CLI is not installed at {InspectorBin}: run scripts/npm.sh");
        var psi = new ProcessStartInfo("node")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = InspectorDir,
        };
        psi.ArgumentList.Add(InspectorBin);
        psi.ArgumentList.Add("--cli");
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        // A stdio server inherits the Inspector's whole environment: never a daemon the test did not choose.
        psi.Environment.Remove("AIRLOCK_HOST");
        psi.Environment.Remove("AIRLOCK_TOKEN");
        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var so = p.StandardOutput.ReadToEndAsync();
        var se = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(90));
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("mcp-inspector-cli " + string.Join(' ', args) + " timed out\n" + await se);
        }
        return new Run(p.ExitCode, await so, await se);
    }

    /// <summary>The JSON the Inspector printed, failing with its output when it did not succeed.</summary>
    public static JsonElement Json(Run r)
    {
        Assert.True(r.ExitCode == 0, "inspector failed: " + r);
        var text = r.Stdout;
        var start = text.IndexOf('{', StringComparison.Ordinal);
        Assert.True(start >= 0, "no JSON in the inspector's output: " + r);
        return JsonDocument.Parse(text[start..]).RootElement;
    }

    /// <summary>A stdio server command line for the Inspector: the published CLI, exactly as a user configures it.</summary>
    public static string[] StdioServer(params string[] args) => [Daemon.Cli, "mcp", .. args];

    /// <summary>A fresh embedded state directory for a stdio server without a daemon.</summary>
    public static Dictionary<string, string> LocalEnv(string home) => new() { ["AIRLOCK_HOME"] = home };

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>A daemon with /mcp on loopback TCP, allowing <paramref name="templates"/> to MCP clients.</summary>
    public static async Task<(Daemon Daemon, string Url)> DaemonAsync(params string[] templates)
    {
        var dir = Daemon.NewDataDir();
        var port = FreePort();
        var args = new List<string> { "--listen", "unix:" + Path.Combine(dir, "airlock.sock"), "--listen", $"http://127.0.0.1:{port}" };
        foreach (var t in templates)
        {
            args.AddRange(["--mcp-allow-template", t]);
        }
        var d = await Daemon.StartAsync(dir, [.. args]);
        return (d, $"http://127.0.0.1:{port}/mcp");
    }
}
