using System.Text.RegularExpressions;
using Airlock.ControlPlane.Audit;
using Airlock.ControlPlane.Store;
using Airlock.Core.Control;

namespace Airlock.Server.Tests;

/// <summary>The command-line contract other tools rely on, with the real NativeAOT CLI against a real daemon.</summary>
public sealed partial class CliContractTests
{
    [GeneratedRegex(@"^sbx-[0-9a-f]{12}\n$")]
    private static partial Regex GeneratedName();

    private static List<AuditRecord> Audit(Daemon d)
    {
        using var store = new ControlStore(d.DataDir, readOnly: true);
        return store.Locked(db => AuditLog.Read(db));
    }

    [Fact]
    public async Task EverySandboxVerbGoesThroughTheDaemon()
    {
        await using var d = await Daemon.StartAsync();
        var token = await d.TokenAsync("acme");

        var created = await d.RunCliAsync(["sandbox", "create"], token);
        Assert.True(created.ExitCode == 0, created.ToString());
        Assert.Matches(GeneratedName(), created.Stdout);
        var generated = created.Stdout.Trim();
        var named = await d.RunCliAsync(["sandbox", "create", "--name", "box"], token);
        Assert.Equal("box\n", named.Stdout);
        // Nothing was created by the CLI itself: no local state, both live in the daemon.
        Assert.False(Directory.Exists(Path.Combine(d.DataDir, "cli-home", "sandboxes")) && Directory.GetDirectories(Path.Combine(d.DataDir, "cli-home", "sandboxes")).Length > 0);
        using var c = d.Client(token);
        Assert.Equal(["box", generated], (await c.ListSandboxesAsync()).Select(s => s.Name).Order().ToArray());

        var exec = await d.RunCliAsync(["sandbox", "exec", "box", "--", "sh", "-c", "cat > in.txt; echo wrote; exit 5"], token, stdin: "payload");
        Assert.Equal((5, "wrote\n"), (exec.ExitCode, exec.Stdout));
        var local = Path.Combine(d.DataDir, "out.txt");
        var cp = await d.RunCliAsync(["sandbox", "cp", "box:in.txt", local], token);
        Assert.True(cp.ExitCode == 0, cp.ToString());
        Assert.Equal("payload", File.ReadAllText(local));
        var ls = await d.RunCliAsync(["sandbox", "ls", "box:"], token);
        Assert.Contains("in.txt", ls.Stdout);

        var run = await d.RunCliAsync(["run", "--json", "--", "sh", "-c", "echo ran; exit 3"], token);
        Assert.Equal(3, run.ExitCode);
        Assert.Contains("\"stdout\":\"ran\\n\"", run.Stdout);
        var py = await d.RunCliAsync(["run", "--python", "print(6*7)"], token);
        Assert.Equal((0, "42\n"), (py.ExitCode, py.Stdout));

        Assert.Equal(0, (await d.RunCliAsync(["sandbox", "suspend", "box"], token)).ExitCode);
        var refused = await d.RunCliAsync(["sandbox", "exec", "box", "--", "true"], token);
        Assert.Equal(125, refused.ExitCode);
        Assert.Contains("suspended", refused.Stderr);
        Assert.Contains("remedy:", refused.Stderr);
        Assert.Equal(0, (await d.RunCliAsync(["sandbox", "resume", "box"], token)).ExitCode);
        Assert.Equal(0, (await d.RunCliAsync(["sandbox", "exec", "box", "--", "true"], token)).ExitCode);
        Assert.Equal(0, (await d.RunCliAsync(["sandbox", "rm", "box", generated], token)).ExitCode);
        Assert.Empty(await c.ListSandboxesAsync());
        Assert.Empty(d.BackendIds());

        var actions = Audit(d).Where(r => r.Tenant == "acme").Select(r => r.Action).ToHashSet();
        Assert.Superset(new HashSet<string> { "sandbox.create", "sandbox.exec", "file.read", "file.list", "sandbox.run", "sandbox.patch", "sandbox.delete" }, actions);

        var verify = await d.RunCliAsync(["audit", "verify", "--data-dir", d.DataDir]);
        Assert.Equal(0, verify.ExitCode);
        Assert.StartsWith("audit log intact:", verify.Stdout);
    }

    [Fact]
    public async Task PoolsAndClaimsExportToAgentSandboxAndImportBack()
    {
        await using var d = await Daemon.StartAsync();
        var token = await d.TokenAsync("acme");
        var apply = await d.RunCliAsync(["pool", "apply", "web", "--template", "python", "--replicas", "1", "--update-strategy", "Recreate"], token);
        Assert.True(apply.ExitCode == 0, apply.ToString());
        using var c = d.Client(token);
        await Daemon.PoolReadyAsync(c, "web", 1);
        var claim = await d.RunCliAsync(["claim", "create", "job", "--pool", "web", "--shutdown-after", "1h"], token);
        Assert.Equal("job\n", claim.Stdout);

        var pool = await d.RunCliAsync(["export", "pool", "web"], token);
        Assert.True(pool.ExitCode == 0, pool.ToString());
        Assert.Contains("kind: SandboxWarmPool", pool.Stdout);
        Assert.Contains("type: Recreate", pool.Stdout);
        var claimYaml = await d.RunCliAsync(["export", "claim", "job"], token);
        Assert.Contains("kind: SandboxClaim", claimYaml.Stdout);
        Assert.Contains("name: web", claimYaml.Stdout);

        // Back in: the pool manifest, renamed, applied to the daemon.
        var manifest = Path.Combine(d.DataDir, "pool.yaml");
        File.WriteAllText(manifest, pool.Stdout.Replace("name: web", "name: web2", StringComparison.Ordinal));
        var imported = await d.RunCliAsync(["import", manifest, "--apply"], token);
        Assert.True(imported.ExitCode == 0, imported.ToString());
        var web2 = await c.GetPoolAsync("web2");
        Assert.Equal(("python", 1, "Recreate"), (web2.Spec.SandboxTemplateRef!.Name, web2.Spec.Replicas, web2.Spec.UpdateStrategy.Type));
        var printed = await d.RunCliAsync(["import", manifest], token);
        Assert.Contains("replicas: 1", printed.Stdout);

        var notDaemon = await d.RunCliAsync(["pool", "ls"]);
        Assert.Equal(125, notDaemon.ExitCode);
        Assert.Contains("AIRLOCK_HOST", notDaemon.Stderr);
    }

    [Fact]
    public async Task LoopbackTcpWorksBesideTheSocketAndOtherAddressesAreRefused()
    {
        var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        var port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        var dir = Daemon.NewDataDir();
        await using var d = await Daemon.StartAsync(dir, "--listen", "unix:" + Path.Combine(dir, "airlock.sock"), "--listen", $"http://127.0.0.1:{port}");
        var token = await d.TokenAsync("acme");
        using var tcp = new Airlock.Client.AirlockClient($"http://127.0.0.1:{port}", token);
        var s = await tcp.CreateSandboxAsync("over-tcp", new SandboxSpec { SandboxTemplateRef = new NameRef("shell") });
        using var unix = d.Client(token);
        Assert.Equal("over-tcp", (await unix.GetSandboxAsync("over-tcp")).Name);
        Assert.NotNull(s.Status.BackendId);

        foreach (var bad in new[] { "http://0.0.0.0:7070", "http://10.1.2.3:7070", "ftp://127.0.0.1:1", "unix:/" + new string('x', 120) })
        {
            var r = await d.RunCliAsync(["serve", "--data-dir", Daemon.NewDataDir(), "--listen", bad]);
            Assert.Equal(125, r.ExitCode);
            Assert.Contains("--listen", r.Stderr);
            Assert.Contains("remedy:", r.Stderr);
        }
    }

    [Fact]
    public async Task ASecondDaemonOnTheSameDataDirectoryIsRefused()
    {
        await using var d = await Daemon.StartAsync();
        var second = await d.RunCliAsync(["serve", "--data-dir", d.DataDir, "--listen", "unix:" + Path.Combine(d.DataDir, "second.sock")]);
        Assert.Equal(125, second.ExitCode);
        Assert.Contains("another airlock daemon", second.Stderr);
        using var c = await d.TenantAsync("acme");
        Assert.Empty(await c.ListSandboxesAsync());
    }

    [Fact]
    public async Task DoctorChecksTheDaemonAndTheToken()
    {
        await using var d = await Daemon.StartAsync();
        // The table wraps cells: compare with the borders and line breaks taken out.
        static string Flat(string table) => string.Join(' ', table.Split(['│', '\n', ' '], StringSplitOptions.RemoveEmptyEntries));
        var good = await d.RunCliAsync(["doctor"], await d.TokenAsync("acme"));
        Assert.Equal(0, good.ExitCode);
        Assert.Matches("daemon ok unix:.*the token works", Flat(good.Stdout));
        var bad = await d.RunCliAsync(["doctor"], "alk_000000000000_" + new string('0', 64));
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("daemon missing", Flat(bad.Stdout));
    }

    [Fact]
    public async Task AHostWithoutATokenIsAClearError()
    {
        await using var d = await Daemon.StartAsync();
        var psiRun = await d.RunCliAsync(["sandbox", "ls"], token: "");
        Assert.Equal(125, psiRun.ExitCode);
        Assert.Contains("AIRLOCK_TOKEN", psiRun.Stderr);
        var wrong = await d.RunCliAsync(["sandbox", "ls"], token: "alk_000000000000_" + new string('0', 64));
        Assert.Equal(125, wrong.ExitCode);
        Assert.Contains("not valid", wrong.Stderr);
        Assert.Contains("remedy:", wrong.Stderr);
    }
}
