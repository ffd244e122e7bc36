namespace Airlock.Guest.Tests;

internal sealed record ProcessInfo(int Pid, int ParentPid, char State, string Command, string Args);

/// <summary>Reads /proc to check what the guest left behind.</summary>
internal static class ProcessTable
{
    public static List<ProcessInfo> ChildrenOf(int parent)
    {
        var result = new List<ProcessInfo>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var open = stat.IndexOf('(');
                var close = stat.LastIndexOf(')');
                var fields = stat[(close + 2)..].Split(' ');
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                var info = new ProcessInfo(pid, int.Parse(fields[1]), fields[0][0], stat[(open + 1)..close], cmdline);
                if (info.ParentPid == parent)
                {
                    result.Add(info);
                }
            }
            catch (IOException)
            {
                // exited while we looked
            }
        }
        return result;
    }
}
