using System.Collections.Concurrent;
using System.Net.Sockets;
using Airlock.Guest.Files;

namespace Airlock.Guest;

/// <summary>Accepts connections on the control socket and serves each one concurrently.</summary>
internal static class Server
{
    /// <summary>How long sessions get after SIGTERM to report their killed execs before the guest exits.</summary>
    private static readonly TimeSpan ShutdownGrace = TimeSpan.FromSeconds(2);

    public static async Task ServeAsync(string socketPath, WorkspaceFs fs, CancellationToken shutdown)
    {
        var dir = Path.GetDirectoryName(socketPath);
        if (!string.IsNullOrEmpty(dir))
        {
            Directory.CreateDirectory(dir);
        }
        File.Delete(socketPath); // a stale socket from a previous start (File.Delete ignores a missing file)
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        File.SetUnixFileMode(socketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        listener.Listen(128);
        Log.Write($"serving on {socketPath}, workspace {fs.Root}");
        var sessions = new ConcurrentDictionary<Task, byte>();
        try
        {
            while (!shutdown.IsCancellationRequested)
            {
                Socket client;
                try
                {
                    client = await listener.AcceptAsync(shutdown).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                catch (SocketException e)
                {
                    // EMFILE and friends: back off rather than spin, and keep serving.
                    Log.Write($"accept failed: {e.Message}");
                    await Task.Delay(50, CancellationToken.None).ConfigureAwait(false);
                    continue;
                }
                var session = Task.Run(() => HandleAsync(client, fs, shutdown), CancellationToken.None);
                sessions.TryAdd(session, 0);
                _ = session.ContinueWith(t => sessions.TryRemove(t, out _), TaskScheduler.Default);
            }
        }
        finally
        {
            File.Delete(socketPath);
        }
        // Running execs were killed through the shutdown token; let their sessions tell the host so.
        ProcessTree.KillAll();
        await Task.WhenAny(Task.WhenAll(sessions.Keys), Task.Delay(ShutdownGrace)).ConfigureAwait(false);
    }

    private static async Task HandleAsync(Socket client, WorkspaceFs fs, CancellationToken shutdown)
    {
        using (client)
        {
            await using var stream = new NetworkStream(client, ownsSocket: false);
            await Session.RunAsync(new Connection(stream, stream), fs, shutdown).ConfigureAwait(false);
            try
            {
                client.Shutdown(SocketShutdown.Both);
            }
            catch (SocketException)
            {
            }
        }
    }
}
