using System.Diagnostics;
using System.Globalization;
using Airlock.Backends.Oci;
using Airlock.Backends.Oci.Cgroups;
using Airlock.Core;
using Airlock.V8Worker.Protocol;

namespace Airlock.Backends.V8.Workers;

/// <summary>The cgroup of one worker: the OCI class's <see cref="SandboxCgroup"/> plus the memory reading the
/// benchmarks and <see cref="V8Backend.Workers"/> report.</summary>
internal sealed class WorkerCgroup(SandboxCgroup cgroup, string memoryDir)
{
    public string Id => cgroup.Id;

    public long MemoryUsageBytes()
    {
        foreach (var file in new[] { "memory.usage_in_bytes", "memory.current" })
        {
            try
            {
                return long.Parse(File.ReadAllText(Path.Combine(memoryDir, file)).Trim(), CultureInfo.InvariantCulture);
            }
            catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
            {
            }
        }
        return 0;
    }

    public bool MemoryLimitReached() => cgroup.MemoryLimitReached();

    public void ResetMemoryPeak() => cgroup.ResetMemoryPeak();

    public void Destroy() => cgroup.Destroy();
}

/// <summary>
/// Starts worker processes in their jail: a memory/pids/cpu cgroup of their own (joined by the launching shell before
/// it execs bubblewrap, so no process of the worker ever runs outside it) and a bubblewrap sandbox with every
/// namespace unshared (no network: only a loopback device of its own), no capabilities, a new session, the
/// environment cleared, and a root filesystem of read-only binds: /usr (and the dotnet root), the worker's own
/// directory, and for Python the Pyodide package. /proc, /dev and a small /tmp are private. No host home, /etc or
/// workspace is visible. The worker dies with its parent.
/// </summary>
internal sealed class WorkerJail(V8Options options, string workerDir, string? pyodideDir, string dotnet, string cgroupParent)
{
    public const string WorkerMount = "/airlock/worker";
    public const string PyodideMount = "/pyodide";
    private static readonly string[] V1Controllers = ["memory", "pids", "cpu", "freezer"];
    private static readonly Lazy<CgroupLayout> Layout = new(() => CgroupLayout.Detect());

    /// <summary>Id prefix of this process's worker cgroups: the owner pid and start time, so a later process can tell
    /// orphans (owner dead) from live ones.</summary>
    public static string OwnerTag(int pid, long startTicks) => $"w{pid}-{startTicks}-";

    public (Process Process, WorkerCgroup? Cgroup) Start(string language)
    {
        var workerArgs = new List<string>
        {
            options.Jail ? WorkerMount + "/Airlock.V8Worker.dll" : Path.Combine(workerDir, "Airlock.V8Worker.dll"),
            "--lang", language,
            "--max-heap-mb", Math.Max(16, options.MaxHeapBytes >> 20).ToString(CultureInfo.InvariantCulture),
        };
        if (language == WorkerLanguages.Python)
        {
            workerArgs.Add("--pyodide");
            workerArgs.Add(options.Jail ? PyodideMount : pyodideDir!);
            if (!options.PythonSnapshot)
            {
                workerArgs.Add("--no-snapshot");
            }
        }
        var psi = new ProcessStartInfo
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        WorkerCgroup? cgroup = null;
        if (!options.Jail)
        {
            psi.FileName = dotnet;
            foreach (var a in workerArgs)
            {
                psi.ArgumentList.Add(a);
            }
            psi.Environment.Clear();
            psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
            return (Process.Start(psi) ?? throw new InvalidOperationException("cannot start the v8 worker"), null);
        }
        cgroup = CreateCgroup(out var procsFiles);
        try
        {
            // sh joins the cgroup, then becomes bwrap: every process of the worker is born inside it.
            psi.FileName = "/bin/sh";
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add("for f in " + string.Join(' ', procsFiles.Select(Quote)) + "; do echo $$ > \"$f\" || exit 125; done; exec \"$@\"");
            psi.ArgumentList.Add("airlock-v8-jail");
            foreach (var a in BwrapArgs(language))
            {
                psi.ArgumentList.Add(a);
            }
            psi.ArgumentList.Add(dotnet);
            foreach (var a in workerArgs)
            {
                psi.ArgumentList.Add(a);
            }
            psi.Environment.Clear();
            psi.Environment["PATH"] = "/usr/bin:/bin";
            return (Process.Start(psi) ?? throw new InvalidOperationException("cannot start bwrap"), cgroup);
        }
        catch
        {
            cgroup.Destroy();
            throw;
        }
    }

    private WorkerCgroup CreateCgroup(out List<string> procsFiles)
    {
        var layout = Layout.Value;
        var id = OwnerTag(Environment.ProcessId, ProcessIdentity.StartTicks(Environment.ProcessId)) + Guid.NewGuid().ToString("N")[..8];
        var cg = new SandboxCgroup(layout, cgroupParent, id);
        try
        {
            // pids counts threads: the .NET runtime and V8's platform threads need a few dozen.
            cg.Create(new CgroupLimits(options.WorkerMemoryBytes, Math.Max(1, Environment.ProcessorCount), 256));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            cg.Destroy();
            throw new AirlockException(AirlockException.ErrorCodes.HostUnsupported,
                $"cannot create the v8 worker's cgroup under {layout.Root}: {e.Message}", "run Airlock as root (the v8 class jails its worker in a memory cgroup)");
        }
        procsFiles = layout.Unified
            ? [Path.Combine(layout.Root, cgroupParent, id, "cgroup.procs")]
            : V1Controllers.Select(c => Path.Combine(layout.Root, c, cgroupParent, id)).Where(Directory.Exists).Select(d => Path.Combine(d, "cgroup.procs")).ToList();
        var memoryDir = layout.Unified ? Path.Combine(layout.Root, cgroupParent, id) : Path.Combine(layout.Root, "memory", cgroupParent, id);
        return new WorkerCgroup(cg, memoryDir);
    }

    private IEnumerable<string> BwrapArgs(string language)
    {
        List<string> a =
        [
            "bwrap",
            "--unshare-all",
            "--unshare-user",
            "--uid", "65534",
            "--gid", "65534",
            "--die-with-parent",
            "--new-session",
            "--cap-drop", "ALL",
            "--clearenv",
            "--ro-bind", "/usr", "/usr",
        ];
        foreach (var dir in new[] { "/lib", "/lib64", "/bin", "/sbin" })
        {
            var info = new FileInfo(dir);
            if (info.LinkTarget is { } target)
            {
                a.AddRange(["--symlink", target, dir]);
            }
            else if (Directory.Exists(dir))
            {
                a.AddRange(["--ro-bind", dir, dir]);
            }
        }
        var dotnetRoot = Path.GetDirectoryName(dotnet)!;
        if (!dotnetRoot.StartsWith("/usr/", StringComparison.Ordinal))
        {
            a.AddRange(["--ro-bind", dotnetRoot, dotnetRoot]);
        }
        a.AddRange(["--ro-bind", workerDir, WorkerMount]);
        if (language == WorkerLanguages.Python)
        {
            a.AddRange(["--ro-bind", pyodideDir!, PyodideMount]);
        }
        a.AddRange(
        [
            "--proc", "/proc",
            "--dev", "/dev",
            "--size", (16 << 20).ToString(CultureInfo.InvariantCulture), "--tmpfs", "/tmp",
            "--remount-ro", "/",
            "--chdir", WorkerMount,
            "--setenv", "HOME", "/tmp",
            "--setenv", "TMPDIR", "/tmp",
            "--setenv", "PATH", "/usr/bin",
            "--setenv", "DOTNET_ROOT", dotnetRoot,
            "--setenv", "DOTNET_CLI_TELEMETRY_OPTOUT", "1",
            // No diagnostics IPC socket, no perf map: the worker needs neither and /tmp stays empty.
            "--setenv", "DOTNET_EnableDiagnostics", "0",
            "--setenv", "DOTNET_gcServer", "0",
            "--setenv", "DOTNET_GCgen0size", "0x400000",
            "--",
        ]);
        return a;
    }

    private static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
