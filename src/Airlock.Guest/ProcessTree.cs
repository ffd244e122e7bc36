using Airlock.Guest.Native;

namespace Airlock.Guest;

/// <summary>Kills everything the guest started, including daemons that left their process group or session.</summary>
internal static class ProcessTree
{
    public static void KillAll()
    {
        foreach (var pgid in ChildReaper.Instance.Groups)
        {
            Libc.kill(-pgid, Libc.SIGKILL);
        }
        var self = Libc.getpid();
        if (self == 1)
        {
            // As the sandbox's init every other process is ours; kill(-1) reaches all of them at once, and the
            // kernel kills whatever is left when init exits, so there is nothing to wait for.
            Libc.kill(-1, Libc.SIGKILL);
            return;
        }
        // As a subreaper, orphaned descendants are re-parented to us, so walking /proc from our pid finds all.
        for (var round = 0; round < 20; round++)
        {
            var victims = Descendants(self);
            if (victims.Count == 0)
            {
                return;
            }
            foreach (var pid in victims)
            {
                Libc.kill(pid, Libc.SIGKILL);
            }
            Thread.Sleep(10);
        }
    }

    internal static List<int> Descendants(int root)
    {
        var parents = new Dictionary<int, int>();
        try
        {
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (int.TryParse(Path.GetFileName(dir), out var pid) && ParentOf(pid) is { } ppid)
                {
                    parents[pid] = ppid;
                }
            }
        }
        catch (IOException)
        {
            return []; // no /proc: the process-group kill above is all we can do
        }
        catch (UnauthorizedAccessException)
        {
            return [];
        }
        var result = new List<int>();
        var frontier = new Queue<int>([root]);
        while (frontier.TryDequeue(out var p))
        {
            foreach (var (child, parent) in parents)
            {
                if (parent == p && child != root)
                {
                    result.Add(child);
                    frontier.Enqueue(child);
                }
            }
        }
        return result;
    }

    /// <summary>Field 4 of /proc/pid/stat; parsed after the last ')' because the command name may contain anything.</summary>
    internal static int? ParentOf(int pid) => StatFields(pid) is { } f && f.Length > 1 && int.TryParse(f[1], out var ppid) ? ppid : null;

    /// <summary>The fields of /proc/pid/stat after the command name: state, ppid, pgrp, …</summary>
    internal static string[]? StatFields(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var close = stat.LastIndexOf(')');
            return close < 0 ? null : stat[(close + 2)..].Split(' ');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null; // the process exited while we looked
        }
    }
}
