namespace Airlock.Backends.Oci.Native;

/// <summary>The mount points of this process's mount namespace, from /proc/self/mountinfo (octal-escaped spaces
/// undone).</summary>
internal static class MountTable
{
    public static IEnumerable<string> All() => File.ReadLines("/proc/self/mountinfo")
        .Select(l => l.Split(' ', 6))
        .Where(f => f.Length > 4)
        .Select(f => f[4].Replace("\\040", " ", StringComparison.Ordinal));

    /// <summary>Mount points strictly below <paramref name="dir"/>.</summary>
    public static List<string> Under(string dir)
    {
        var prefix = dir.TrimEnd('/') + "/";
        return All().Where(m => m.StartsWith(prefix, StringComparison.Ordinal)).ToList();
    }

    public static bool IsMountPoint(string dir) => All().Contains(dir.TrimEnd('/'));
}
