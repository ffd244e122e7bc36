using System.Runtime.InteropServices;
using Airlock.Guest;
using Airlock.Guest.Files;
using Airlock.Guest.Native;
using Airlock.Guest.Protocol;

[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

// airlock-guest: the agent inside every oci/microvm sandbox. As the container's PID 1 it reaps all processes,
// runs execs and file operations for the host, and kills everything on SIGTERM.
return await Guest.MainAsync(args);

internal static class Guest
{
    private const string Usage = """
        usage: airlock-guest serve [--socket PATH] [--workspace DIR] [--egress-socket PATH [--egress-port N]]
               airlock-guest stdio [--workspace DIR] [--egress-socket PATH [--egress-port N]]
               airlock-guest version
        """;

    public static async Task<int> MainAsync(string[] args)
    {
        if (args.Length == 0)
        {
            Log.Write(Usage);
            return 2;
        }
        var socket = Wire.GuestSocketPath;
        var workspace = "/workspace";
        string? egressSocket = null;
        var egressPort = 3128;
        for (var i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--socket" when i + 1 < args.Length:
                    socket = args[++i];
                    break;
                case "--workspace" when i + 1 < args.Length:
                    workspace = args[++i];
                    break;
                case "--egress-socket" when i + 1 < args.Length:
                    egressSocket = args[++i];
                    break;
                case "--egress-port" when i + 1 < args.Length && int.TryParse(args[i + 1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var p) && p is > 0 and < 65536:
                    egressPort = p;
                    i++;
                    break;
                default:
                    Log.Write($"unknown or incomplete option \"{args[i]}\"\n{Usage}");
                    return 2;
            }
        }
        switch (args[0])
        {
            case "version":
                WriteStdout($"airlock-guest protocol {Wire.Version}\n");
                return 0;
            case "serve":
            case "stdio":
                break;
            default:
                Log.Write($"unknown mode \"{args[0]}\"\n{Usage}");
                return 2;
        }

        using var shutdown = new CancellationTokenSource();
        void OnSignal(PosixSignalContext ctx)
        {
            ctx.Cancel = true; // we exit on our own terms, after killing the children
            shutdown.Cancel();
        }
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        ChildReaper.Instance.Start();

        WorkspaceFs fs;
        try
        {
            Directory.CreateDirectory(workspace);
            // Test hook: exercise the userspace resolver that gVisor and old kernels get (it is equally strict).
            var forceWalk = Environment.GetEnvironmentVariable("AIRLOCK_GUEST_FORCE_WALK") == "1";
            fs = WorkspaceFs.Open(Path.GetFullPath(workspace).TrimEnd('/') is { Length: > 0 } w ? w : "/", forceWalk);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ErrnoException)
        {
            Log.Write($"cannot open workspace \"{workspace}\": {e.Message}");
            return GuestExitCodes.GuestError;
        }

        if (egressSocket is not null)
        {
            // 127.0.0.1:PORT inside the sandbox → the host's egress proxy (HTTP_PROXY/HTTPS_PROXY/ALL_PROXY point here).
            System.Net.Sockets.Socket listener;
            try
            {
                listener = EgressForwarder.Listen(egressPort);
            }
            catch (System.Net.Sockets.SocketException e)
            {
                Log.Write($"egress forwarder cannot listen on 127.0.0.1:{egressPort}: {e.Message}");
                return GuestExitCodes.GuestError;
            }
            _ = Task.Run(() => EgressForwarder.RunAsync(listener, egressSocket, shutdown.Token));
        }

        try
        {
            if (args[0] == "serve")
            {
                await Server.ServeAsync(socket, fs, shutdown.Token);
                return 0;
            }
            // stdio: the container's stdin/stdout are the connection (ephemeral `airlock run`).
            var input = new FdStream(0, canRead: true);
            var output = new FdStream(1, canRead: false);
            return await Session.RunAsync(new Connection(input, output), fs, shutdown.Token);
        }
        finally
        {
            ProcessTree.KillAll();
        }
    }

    private static void WriteStdout(string text)
    {
        new FdStream(1, canRead: false).Write(System.Text.Encoding.UTF8.GetBytes(text));
    }
}
