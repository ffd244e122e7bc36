using Airlock.Guest.Native;

namespace Airlock.Guest;

/// <summary>Diagnostics go to fd 2 directly: System.Console would install terminal and SIGCHLD handling,
/// and in stdio mode fd 1 is the protocol channel.</summary>
internal static class Log
{
    private static readonly FdStream Stderr = new(2, canRead: false);
    private static readonly Lock Gate = new();

    public static void Write(string message)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes($"airlock-guest: {message}\n");
        lock (Gate)
        {
            try
            {
                Stderr.Write(bytes);
            }
            catch (IOException)
            {
                // Nobody is listening on stderr; diagnostics are best effort.
            }
        }
    }
}
