namespace Airlock.Backends.Oci;

/// <summary>Identifies a process by pid and start time, so a recycled pid is not mistaken for a dead owner.</summary>
internal static class ProcessIdentity
{
    public static long StartTicks(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // Field 22 (starttime) follows the parenthesised command name, which may itself hold spaces.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(fields[19]);
        }
        catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException or UnauthorizedAccessException)
        {
            return -1;
        }
    }

    public static bool IsAlive(int pid, long startTicks) => StartTicks(pid) is var t && t >= 0 && t == startTicks;
}
