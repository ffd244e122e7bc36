using System.Globalization;

namespace Airlock.Backends.Oci.Cgroups;

/// <summary>Limits applied to one sandbox's cgroup.</summary>
public sealed record CgroupLimits(long MemoryBytes, double Cpus, int Pids);

/// <summary>
/// The parent cgroup Airlock owns for each sandbox (<c>airlock/&lt;id&gt;</c>). Limits are set here and the runtime
/// places the container in a child (<c>airlock/&lt;id&gt;/ctr</c>), so the counters that say why a sandbox died (OOM
/// kills, pids refusals) outlive the runtime's own cleanup, and teardown can kill every process of the sandbox,
/// whatever the runtime did or failed to do.
/// </summary>
public sealed class SandboxCgroup(CgroupLayout layout, string parent, string id)
{
    /// <summary>The parent cgroup of a state directory's sandboxes: <c>airlock</c> for the default one, and a name
    /// derived from the path for others, so that two Airlock installations (or test runs) never reap each other.</summary>
    public static string ParentFor(string stateRoot) => stateRoot == "/var/lib/airlock"
        ? "airlock"
        : "airlock-" + Core.Util.StableHash.Hex(stateRoot)[..12];

    private static readonly string[] V1Controllers = ["memory", "pids", "cpu", "freezer"];
    private const long CpuPeriodUs = 100_000;

    public string Id => id;

    /// <summary>cgroupsPath for the OCI spec: relative to each hierarchy's root.</summary>
    public string RuntimePath => $"/{parent}/{id}/ctr";

    /// <summary>Directories where Airlock sets limits: one per v1 controller it uses, or the single v2 one.</summary>
    private IEnumerable<string> OwnDirs => layout.Unified
        ? [Path.Combine(layout.Root, parent, id)]
        : V1Controllers.Select(c => Path.Combine(layout.Root, c)).Where(Directory.Exists).Select(root => Path.Combine(root, parent, id));

    /// <summary>Every directory of this sandbox in every hierarchy: runtimes create the container's cgroup (and so
    /// this parent) in all mounted v1 hierarchies and in the hybrid layout's cgroup2 mount, and teardown removes
    /// them all.</summary>
    private IEnumerable<string> AllDirs => HierarchyRoots(layout).Select(root => Path.Combine(root, parent, id)).Where(Directory.Exists);

    /// <summary>The root of every cgroup hierarchy: the one v2 mount, or each v1 controller's plus the hybrid
    /// layout's cgroup2 mount.</summary>
    private static IEnumerable<string> HierarchyRoots(CgroupLayout layout) => layout.Unified
        ? [layout.Root]
        : Directory.EnumerateDirectories(layout.Root)
            .Concat(layout.HybridUnifiedMount is { } h && !h.StartsWith(layout.Root + "/", StringComparison.Ordinal) ? [h] : []);

    private string Dir(string controller) => layout.Unified
        ? Path.Combine(layout.Root, parent, id)
        : Path.Combine(layout.Root, controller, parent, id);

    public void Create(CgroupLimits limits)
    {
        if (layout.Unified)
        {
            EnableV2Controllers();
        }
        foreach (var dir in OwnDirs)
        {
            Directory.CreateDirectory(dir);
        }
        var mem = limits.MemoryBytes.ToString(CultureInfo.InvariantCulture);
        var quota = ((long)Math.Ceiling(limits.Cpus * CpuPeriodUs)).ToString(CultureInfo.InvariantCulture);
        var pids = limits.Pids.ToString(CultureInfo.InvariantCulture);
        if (layout.Unified)
        {
            Write("memory", "memory.max", mem);
            Write("memory", "memory.swap.max", "0", optional: true);
            Write("cpu", "cpu.max", $"{quota} {CpuPeriodUs}");
            Write("pids", "pids.max", pids);
        }
        else
        {
            Write("memory", "memory.limit_in_bytes", mem);
            Write("memory", "memory.memsw.limit_in_bytes", mem, optional: true);
            Write("memory", "memory.swappiness", "0", optional: true);
            Write("cpu", "cpu.cfs_period_us", CpuPeriodUs.ToString(CultureInfo.InvariantCulture));
            Write("cpu", "cpu.cfs_quota_us", quota);
            Write("pids", "pids.max", pids);
        }
    }

    /// <summary>Whether the sandbox's memory use reached its limit since the last <see cref="ResetMemoryPeak"/>.
    /// On v2 that is the hierarchical OOM-kill count. On v1 OOM kills are counted only in the victim's own cgroup
    /// (which the runtime removes) and this kernel leaves failcnt at 0 for hierarchical charges, so it is the peak
    /// usage touching the limit. Together with a SIGKILL Airlock did not send, it means the OOM killer ended the
    /// workload.</summary>
    public bool MemoryLimitReached()
    {
        if (layout.Unified)
        {
            return ReadKey("memory", "memory.events", "oom_kill") > 0;
        }
        var limit = ReadNumber("memory", "memory.limit_in_bytes");
        var peak = Math.Max(ReadNumber("memory", "memory.max_usage_in_bytes"), ReadNumber("memory", "memory.memsw.max_usage_in_bytes"));
        return limit > 0 && peak >= limit - (256 << 10);
    }

    /// <summary>Starts a new measuring period for <see cref="MemoryLimitReached"/> (v1 only; v2 counts events).</summary>
    public void ResetMemoryPeak()
    {
        if (!layout.Unified)
        {
            Write("memory", "memory.max_usage_in_bytes", "0", optional: true);
            Write("memory", "memory.memsw.max_usage_in_bytes", "0", optional: true);
        }
    }

    private long ReadNumber(string controller, string file)
    {
        try
        {
            return long.Parse(File.ReadAllText(Path.Combine(Dir(controller), file)).Trim());
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    /// <summary>Whether the number of tasks reached the pids limit. v1 counts refused forks only in the leaf cgroup
    /// (which the runtime removes), so this compares the hierarchical peak with the limit instead.</summary>
    public bool PidsLimitReached()
    {
        if (layout.Unified)
        {
            return ReadKey("pids", "pids.events", "max") > 0;
        }
        var max = ReadNumber("pids", "pids.max");
        return max > 0 && ReadNumber("pids", "pids.peak") >= max;
    }

    /// <summary>Pids of every process in the sandbox's cgroup subtree.</summary>
    public IReadOnlyList<int> Processes()
    {
        var dir = Dir("pids");
        if (!Directory.Exists(dir))
        {
            return [];
        }
        var pids = new List<int>();
        foreach (var procs in Directory.EnumerateFiles(dir, "cgroup.procs", SearchOption.AllDirectories))
        {
            try
            {
                foreach (var line in File.ReadLines(procs))
                {
                    if (int.TryParse(line, out var pid))
                    {
                        pids.Add(pid);
                    }
                }
            }
            catch (IOException)
            {
                // The child cgroup vanished while we read it.
            }
        }
        return pids;
    }

    public bool Exists => Directory.Exists(Dir("pids"));

    /// <summary>Kills every process of the sandbox and removes its cgroups. Freezing first stops a fork bomb from
    /// outrunning the kill loop.</summary>
    public void Destroy()
    {
        var frozen = Freeze(true);
        for (var round = 0; round < 200; round++)
        {
            var pids = Processes();
            if (pids.Count == 0)
            {
                break;
            }
            foreach (var pid in pids)
            {
                _ = Native.Libc.Kill(pid, Native.Libc.SIGKILL);
            }
            if (frozen)
            {
                Freeze(false);
                frozen = false;
            }
            Thread.Sleep(round < 10 ? 1 : 10);
        }
        foreach (var dir in AllDirs)
        {
            RemoveTree(dir);
        }
    }

    /// <summary>Freezes (or thaws) every process of the sandbox. Returns false where the host has no freezer.</summary>
    public bool Freeze(bool on)
    {
        try
        {
            if (layout.Unified)
            {
                File.WriteAllText(Path.Combine(Dir("pids"), "cgroup.freeze"), on ? "1" : "0");
            }
            else
            {
                var dir = Dir("freezer");
                if (!Directory.Exists(dir))
                {
                    return false;
                }
                File.WriteAllText(Path.Combine(dir, "freezer.state"), on ? "FROZEN" : "THAWED");
            }
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Whether the sandbox is frozen (v1: FREEZING counts, the kernel is still getting there).</summary>
    public bool IsFrozen
    {
        get
        {
            try
            {
                return layout.Unified
                    ? File.ReadAllText(Path.Combine(Dir("pids"), "cgroup.freeze")).Trim() == "1"
                    : File.ReadAllText(Path.Combine(Dir("freezer"), "freezer.state")).Trim() is "FROZEN" or "FREEZING";
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return false;
            }
        }
    }

    /// <summary>Ids of sandbox cgroups present on the host (for reaping orphans).</summary>
    public static IReadOnlyList<string> ListIds(CgroupLayout layout, string parent)
    {
        var dir = layout.Unified ? Path.Combine(layout.Root, parent) : Path.Combine(layout.Root, "pids", parent);
        return Directory.Exists(dir) ? Directory.EnumerateDirectories(dir).Select(Path.GetFileName).OfType<string>().ToList() : [];
    }

    /// <summary>Removes a state directory's parent cgroup from every hierarchy, when no sandbox is left in it (for
    /// uninstalling, and for tests and benchmarks that use a throwaway state directory).</summary>
    public static void RemoveParent(CgroupLayout layout, string parent)
    {
        foreach (var root in HierarchyRoots(layout))
        {
            var dir = Path.Combine(root, parent);
            if (Directory.Exists(dir) && !Directory.EnumerateDirectories(dir).Any())
            {
                RemoveTree(dir);
            }
        }
    }

    private static void RemoveTree(string dir)
    {
        if (!Directory.Exists(dir))
        {
            return;
        }
        // cgroup directories can only be removed with rmdir, children first; files inside are virtual.
        foreach (var child in Directory.EnumerateDirectories(dir))
        {
            RemoveTree(child);
        }
        for (var i = 0; i < 50; i++)
        {
            try
            {
                Directory.Delete(dir);
                return;
            }
            catch (DirectoryNotFoundException)
            {
                return;
            }
            catch (IOException)
            {
                // EBUSY while the last exiting task leaves the cgroup.
                Thread.Sleep(2);
            }
        }
    }

    private void EnableV2Controllers()
    {
        var parentDir = Path.Combine(layout.Root, parent);
        Directory.CreateDirectory(parentDir);
        foreach (var dir in new[] { layout.Root, parentDir })
        {
            try
            {
                File.WriteAllText(Path.Combine(dir, "cgroup.subtree_control"), "+memory +pids +cpu");
            }
            catch (IOException)
            {
                // Already enabled, or delegated differently; limits below fail loudly if not.
            }
        }
    }

    private void Write(string controller, string file, string value, bool optional = false)
    {
        var path = Path.Combine(Dir(controller), file);
        try
        {
            File.WriteAllText(path, value);
        }
        catch (Exception e) when (optional && e is IOException or UnauthorizedAccessException)
        {
        }
    }

    private long ReadKey(string controller, string file, string key)
    {
        try
        {
            foreach (var line in File.ReadLines(Path.Combine(Dir(controller), file)))
            {
                var parts = line.Split(' ');
                if (parts.Length == 2 && parts[0] == key && long.TryParse(parts[1], out var n))
                {
                    return n;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return 0;
    }
}
