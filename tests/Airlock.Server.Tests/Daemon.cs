using System.Diagnostics;
using System.Text;
using Airlock.Client;
using Airlock.Core.Control;

// Every test runs a real daemon driving real sandboxes (cgroups, mounts, crun): one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Airlock.Server.Tests;

public sealed record Run(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>
/// A real <c>airlock serve</c> (the published artifacts/server/airlock-server, started through the NativeAOT CLI
/// like a user would) on its own data directory under /var/tmp, with helpers for tokens, clients and the CLI.
/// Disposing deletes every claim, pool and sandbox through the API, stops the daemon and removes the directory.
/// </summary>
public sealed class Daemon : IAsyncDisposable
{
    private Process? _process;
    private readonly StringBuilder _log = new();

    public string DataDir { get; }
    public string Socket => Path.Combine(DataDir, "airlock.sock");
    public string Host => "unix:" + Socket;
    public int? Pid => _process is { HasExited: false } p ? p.Id : null;
    public string Log { get { lock (_log) { return _log.ToString(); } } }

    private Daemon(string dataDir) => DataDir = dataDir;

    public static string RepoRoot { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Airlock.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("no Airlock.sln above " + AppContext.BaseDirectory);
    }

    public static string Cli => Path.Combine(RepoRoot, "artifacts", "bin", "airlock");

    /// <summary>A fresh data directory (o+x on the way, as sandbox users must traverse it).</summary>
    public static string NewDataDir() => Path.Combine("/var/tmp", "airlock-test-" + Guid.NewGuid().ToString("N")[..8]);

    public static async Task<Daemon> StartAsync(string? dataDir = null, params string[] extraArgs)
    {
        var d = new Daemon(dataDir ?? NewDataDir());
        await d.StartProcessAsync(extraArgs).ConfigureAwait(false);
        return d;
    }

    /// <summary>(Re)starts the daemon process on this data directory and waits until it answers /healthz.</summary>
    public async Task StartProcessAsync(params string[] extraArgs)
    {
        var psi = new ProcessStartInfo(Cli) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "serve", "--data-dir", DataDir, "--reconcile-interval", "0.2" }.Concat(extraArgs))
        {
            psi.ArgumentList.Add(a);
        }
        var p = Process.Start(psi)!;
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (_log) { _log.AppendLine(e.Data); } } };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (_log) { _log.AppendLine(e.Data); } } };
        p.BeginErrorReadLine();
        p.BeginOutputReadLine();
        _process = p;
        var sw = Stopwatch.StartNew();
        while (true)
        {
            if (p.HasExited)
            {
                throw new InvalidOperationException($"daemon exited with {p.ExitCode}:\n{Log}");
            }
            if (File.Exists(Socket))
            {
                using var probe = new AirlockClient(Host, "none");
                if (await probe.HealthyAsync().ConfigureAwait(false))
                {
                    return;
                }
            }
            if (sw.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException("daemon did not answer within 30 s:\n" + Log);
            }
            await Task.Delay(50).ConfigureAwait(false);
        }
    }

    /// <summary>SIGKILL: no shutdown code runs, as in a crash.</summary>
    public void Kill()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill();
            p.WaitForExit();
        }
    }

    /// <summary>SIGTERM and wait for a clean exit.</summary>
    public async Task StopAsync()
    {
        if (_process is { HasExited: false } p)
        {
            _ = Kill(p.Id, 15);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await p.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill")]
    private static extern int Kill(int pid, int sig);

    /// <summary><c>airlock token create</c>, returning the printed token.</summary>
    public async Task<string> TokenAsync(string tenant, string? ttl = null, params string[] scopes)
    {
        var args = new List<string> { "token", "create", "--data-dir", DataDir, "--tenant", tenant };
        if (ttl is not null)
        {
            args.AddRange(["--ttl", ttl]);
        }
        foreach (var s in scopes)
        {
            args.AddRange(["--scope", s]);
        }
        var r = await RunCliAsync(args).ConfigureAwait(false);
        Assert.True(r.ExitCode == 0, r.ToString());
        var token = r.Stdout.Trim();
        lock (_tokensForCleanup)
        {
            _tokensForCleanup.Add(token);
        }
        return token;
    }

    public AirlockClient Client(string token) => new(Host, token);

    public async Task<AirlockClient> TenantAsync(string tenant) => Client(await TokenAsync(tenant).ConfigureAwait(false));

    /// <summary>Runs the CLI; with <paramref name="token"/>, through this daemon (AIRLOCK_HOST/AIRLOCK_TOKEN).</summary>
    public async Task<Run> RunCliAsync(IEnumerable<string> args, string? token = null, string? stdin = null, TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo(Cli)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["AIRLOCK_HOME"] = Path.Combine(DataDir, "cli-home");
        if (token is not null)
        {
            psi.Environment["AIRLOCK_HOST"] = Host;
            psi.Environment["AIRLOCK_TOKEN"] = token;
        }
        using var p = Process.Start(psi)!;
        var so = p.StandardOutput.ReadToEndAsync();
        var se = p.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await p.StandardInput.WriteAsync(stdin).ConfigureAwait(false);
        }
        p.StandardInput.Close();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await p.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("airlock " + string.Join(' ', args) + " timed out");
        }
        return new Run(p.ExitCode, await so.ConfigureAwait(false), await se.ConfigureAwait(false));
    }

    /// <summary>Waits until <paramref name="condition"/> holds, polling; fails with <paramref name="what"/>.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string what, double seconds = 20)
    {
        var sw = Stopwatch.StartNew();
        while (!await condition().ConfigureAwait(false))
        {
            if (sw.Elapsed.TotalSeconds > seconds)
            {
                Assert.Fail($"timed out after {seconds} s waiting for: {what}");
            }
            await Task.Delay(50).ConfigureAwait(false);
        }
    }

    public static async Task<SandboxWarmPool> PoolReadyAsync(AirlockClient c, string pool, int ready)
    {
        SandboxWarmPool? last = null;
        await EventuallyAsync(async () => (last = await c.GetPoolAsync(pool).ConfigureAwait(false)).Status.ReadyReplicas == ready && last.Status.Replicas == ready,
            $"pool {pool} to have {ready} ready").ConfigureAwait(false);
        return last!;
    }

    // ------------------------------------------------------------------ what the daemon holds on the host

    public string StateDir => Path.Combine(DataDir, "state");

    /// <summary>Backend sandbox directories (one per live sandbox).</summary>
    public IReadOnlyList<string> BackendIds() =>
        Directory.Exists(Path.Combine(StateDir, "sandboxes")) ? Directory.GetDirectories(Path.Combine(StateDir, "sandboxes")).Select(Path.GetFileName).OfType<string>().ToList() : [];

    /// <summary>Sandbox mount points (workspaces, /tmp) under the data directory; not the daemon's own state tmpfs.</summary>
    public IReadOnlyList<string> Mounts() => AllMounts().Where(m => m != StateDir).ToList();

    private IReadOnlyList<string> AllMounts() => File.ReadLines("/proc/self/mountinfo")
        .Select(l => l.Split(' ')[4]).Where(m => m.StartsWith(DataDir + "/", StringComparison.Ordinal)).ToList();

    /// <summary>Every hierarchy a sandbox cgroup can be in (v1 controllers, freezer first so a cleanup thaws before it
    /// kills; the hybrid cgroup2 mount; a v2 host).</summary>
    private static readonly string[] CgroupRoots =
        ["/sys/fs/cgroup/freezer", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"];

    /// <summary>The daemon's parent cgroup, named after its state directory as the backend names it.</summary>
    private string CgroupParent => "airlock-" + Core.Util.StableHash.Hex(StateDir)[..12];

    /// <summary>Sandbox cgroups under the daemon's parent cgroup (named after the state directory), any hierarchy.</summary>
    public IReadOnlyList<string> Cgroups()
    {
        var result = new List<string>();
        foreach (var root in CgroupRoots)
        {
            var dir = Path.Combine(root, CgroupParent);
            if (Directory.Exists(dir))
            {
                result.AddRange(Directory.GetDirectories(dir).Select(Path.GetFileName).OfType<string>().Where(n => n.StartsWith("sbx-", StringComparison.Ordinal)));
            }
        }
        return result.Distinct().ToList();
    }

    /// <summary>Containers the runtime still knows (crun's state root).</summary>
    public IReadOnlyList<string> RuntimeContainers()
    {
        var root = Path.Combine(StateDir, "runtime", "crun");
        return Directory.Exists(root) ? Directory.GetDirectories(root).Select(Path.GetFileName).OfType<string>().ToList() : [];
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (Pid is not null)
            {
                foreach (var tenantToken in _tokensForCleanup)
                {
                    using var c = Client(tenantToken);
                    try
                    {
                        foreach (var claim in await c.ListClaimsAsync().ConfigureAwait(false))
                        {
                            await c.DeleteClaimAsync(claim.Name).ConfigureAwait(false);
                        }
                        foreach (var pool in await c.ListPoolsAsync().ConfigureAwait(false))
                        {
                            await c.DeletePoolAsync(pool.Name).ConfigureAwait(false);
                        }
                        foreach (var s in await c.ListSandboxesAsync().ConfigureAwait(false))
                        {
                            await c.DeleteSandboxAsync(s.Name).ConfigureAwait(false);
                        }
                    }
                    catch (Exception e) when (e is AirlockApiException or HttpRequestException)
                    {
                    }
                }
                await StopAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            Kill();
            _process?.Dispose();
            ForceCleanup();
            // Whatever is left (a test that failed mid-way): the embedded CLI's reaper cannot see the daemon's
            // state, so unmount and remove here, never recursing into a mounted filesystem.
            foreach (var m in AllMounts().OrderByDescending(m => m.Length))
            {
                _ = Umount2(m, 2);
            }
            if (AllMounts().Count == 0 && Directory.Exists(DataDir))
            {
                Directory.Delete(DataDir, recursive: true);
            }
        }
    }

    private readonly List<string> _tokensForCleanup = [];

    /// <summary>Kills every process left in the daemon's sandbox cgroups and removes the cgroups (after a failed
    /// test; a passing one leaves nothing).</summary>
    private void ForceCleanup()
    {
        foreach (var root in CgroupRoots)
        {
            var dir = Path.Combine(root, CgroupParent);
            if (!Directory.Exists(dir))
            {
                continue;
            }
            foreach (var state in Directory.GetFiles(dir, "freezer.state", SearchOption.AllDirectories))
            {
                try { File.WriteAllText(state, "THAWED"); } catch (IOException) { }
            }
            foreach (var procs in Directory.GetFiles(dir, "cgroup.procs", SearchOption.AllDirectories))
            {
                foreach (var pid in File.ReadAllLines(procs).Where(l => l.Length > 0))
                {
                    _ = Kill(int.Parse(pid, System.Globalization.CultureInfo.InvariantCulture), 9);
                }
            }
            Thread.Sleep(100);
            foreach (var sub in Directory.GetDirectories(dir, "*", SearchOption.AllDirectories).OrderByDescending(d => d.Length).Append(dir))
            {
                try { Directory.Delete(sub); } catch (IOException) { }
            }
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "umount2")]
    private static extern int Umount2(string target, int flags);
}
