using Airlock.Backends.Oci.Cgroups;

namespace Airlock.Backends.Oci.Tests;

/// <summary>Cgroup layout detection and the files limits are written to, on v1, hybrid and v2 layouts laid out in a
/// temporary directory (pure logic: this host is v1 hybrid, so the v2 paths run nowhere else in the suite).</summary>
public sealed class CgroupTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("airlock-cgroup-test-").FullName;

    private string MountInfo(params string[] lines)
    {
        var path = Path.Combine(_root, "mountinfo");
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void DetectsV1HybridAndV2()
    {
        var hybrid = CgroupLayout.Detect(MountInfo(
            "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
            "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
            "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw"));
        Assert.False(hybrid.Unified);
        Assert.Equal("/sys/fs/cgroup/unified", hybrid.HybridUnifiedMount);
        var v1 = CgroupLayout.Detect(MountInfo(
            "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
            "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory"));
        Assert.Null(v1.HybridUnifiedMount);
        var v2 = CgroupLayout.Detect(MountInfo("31 23 0:28 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate"));
        Assert.True(v2.Unified);
    }

    [Fact]
    public void V2LimitsAndCounters()
    {
        var layout = new CgroupLayout(true, null, _root);
        var cg = new SandboxCgroup(layout, "airlock-test", "sbx-000000000001");
        cg.Create(new CgroupLimits(64 << 20, 0.5, 32));
        var dir = Path.Combine(_root, "airlock-test", "sbx-000000000001");
        Assert.Equal("67108864", File.ReadAllText(Path.Combine(dir, "memory.max")));
        Assert.Equal("0", File.ReadAllText(Path.Combine(dir, "memory.swap.max")));
        Assert.Equal("50000 100000", File.ReadAllText(Path.Combine(dir, "cpu.max")));
        Assert.Equal("32", File.ReadAllText(Path.Combine(dir, "pids.max")));
        Assert.Equal("+memory +pids +cpu", File.ReadAllText(Path.Combine(_root, "cgroup.subtree_control")));
        Assert.Equal("/airlock-test/sbx-000000000001/ctr", cg.RuntimePath);

        File.WriteAllText(Path.Combine(dir, "memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n");
        Assert.False(cg.MemoryLimitReached());
        File.WriteAllText(Path.Combine(dir, "memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
        Assert.True(cg.MemoryLimitReached());
        File.WriteAllText(Path.Combine(dir, "pids.events"), "max 0\n");
        Assert.False(cg.PidsLimitReached());
        File.WriteAllText(Path.Combine(dir, "pids.events"), "max 5\n");
        Assert.True(cg.PidsLimitReached());
    }

    [Fact]
    public void V1LimitsPerControllerAndPeakBasedCounters()
    {
        foreach (var c in new[] { "memory", "pids", "cpu", "freezer" })
        {
            Directory.CreateDirectory(Path.Combine(_root, c));
        }
        var layout = new CgroupLayout(false, null, _root);
        var cg = new SandboxCgroup(layout, "airlock-test", "sbx-000000000002");
        cg.Create(new CgroupLimits(64 << 20, 2, 100));
        string Read(string c, string f) => File.ReadAllText(Path.Combine(_root, c, "airlock-test", "sbx-000000000002", f));
        Assert.Equal("67108864", Read("memory", "memory.limit_in_bytes"));
        Assert.Equal("200000", Read("cpu", "cpu.cfs_quota_us"));
        Assert.Equal("100000", Read("cpu", "cpu.cfs_period_us"));
        Assert.Equal("100", Read("pids", "pids.max"));

        var mem = Path.Combine(_root, "memory", "airlock-test", "sbx-000000000002");
        File.WriteAllText(Path.Combine(mem, "memory.max_usage_in_bytes"), (40 << 20).ToString());
        Assert.False(cg.MemoryLimitReached());
        File.WriteAllText(Path.Combine(mem, "memory.max_usage_in_bytes"), (64 << 20).ToString());
        Assert.True(cg.MemoryLimitReached());
        var pids = Path.Combine(_root, "pids", "airlock-test", "sbx-000000000002");
        File.WriteAllText(Path.Combine(pids, "pids.peak"), "99");
        Assert.False(cg.PidsLimitReached());
        File.WriteAllText(Path.Combine(pids, "pids.peak"), "100");
        Assert.True(cg.PidsLimitReached());
    }

    [Fact]
    public void ParentNamesSeparateStateDirectories()
    {
        Assert.Equal("airlock", SandboxCgroup.ParentFor("/var/lib/airlock"));
        Assert.NotEqual(SandboxCgroup.ParentFor("/tmp/a"), SandboxCgroup.ParentFor("/tmp/b"));
        Assert.Equal(SandboxCgroup.ParentFor("/tmp/a"), SandboxCgroup.ParentFor("/tmp/a"));
        Assert.Matches("^airlock-[0-9a-f]{12}$", SandboxCgroup.ParentFor("/tmp/a"));
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
