namespace Airlock.Backends.Oci.Cgroups;

/// <summary>How cgroups are mounted on this host.</summary>
/// <param name="Unified">Pure cgroup v2 at /sys/fs/cgroup.</param>
/// <param name="HybridUnifiedMount">On a v1 host, the path of an extra cgroup2 mount (systemd's "hybrid" layout),
/// which makes crun refuse to start unless it is hidden from crun's mount namespace.</param>
public sealed record CgroupLayout(bool Unified, string? HybridUnifiedMount, string Root)
{
    public static CgroupLayout Detect(string mountinfoPath = "/proc/self/mountinfo", string root = "/sys/fs/cgroup")
    {
        string? rootType = null;
        string? hybrid = null;
        foreach (var line in File.ReadLines(mountinfoPath))
        {
            // mountinfo: id parent major:minor root mountpoint options [optional...] - fstype source superoptions
            var sep = line.IndexOf(" - ", StringComparison.Ordinal);
            if (sep < 0)
            {
                continue;
            }
            var left = line[..sep].Split(' ');
            var right = line[(sep + 3)..].Split(' ');
            if (left.Length < 5 || right.Length < 1)
            {
                continue;
            }
            var mountPoint = left[4];
            var fsType = right[0];
            if (mountPoint == root)
            {
                rootType = fsType;
            }
            else if (fsType == "cgroup2" && mountPoint.StartsWith(root + "/", StringComparison.Ordinal))
            {
                hybrid = mountPoint;
            }
        }
        return rootType == "cgroup2" ? new CgroupLayout(true, null, root) : new CgroupLayout(false, hybrid, root);
    }
}
