using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Airlock.Guest.Protocol;

namespace Airlock.Guest.Tests;

/// <summary>
/// Runs the real guest (`dotnet airlock-guest.dll serve`) as an ordinary process against a temp workspace and a
/// Unix socket in a temp dir, shared by the tests of one class.
/// </summary>
public class GuestFixture : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stderr = new();

    public GuestFixture()
        : this(forceWalk: false)
    {
    }

    protected GuestFixture(bool forceWalk)
    {
        Root = Directory.CreateTempSubdirectory("airlock-guest-test-").FullName;
        Workspace = Path.Combine(Root, "workspace");
        Directory.CreateDirectory(Workspace);
        SocketPath = Path.Combine(Root, "run", "guest.sock");
        var psi = GuestCommand.Create("serve", "--socket", SocketPath, "--workspace", Workspace);
        psi.RedirectStandardError = true;
        psi.RedirectStandardOutput = true;
        if (forceWalk)
        {
            psi.Environment["AIRLOCK_GUEST_FORCE_WALK"] = "1";
        }
        _process = Process.Start(psi)!;
        _process.ErrorDataReceived += (_, e) => { lock (_stderr) { _stderr.AppendLine(e.Data); } };
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        // Ready when a connection is accepted: the socket file appears at bind(), a moment before listen().
        while (true)
        {
            if (_process.HasExited || DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"guest did not start: {Stderr}");
            }
            if (File.Exists(SocketPath))
            {
                try
                {
                    using var probe = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                    probe.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(SocketPath));
                    break;
                }
                catch (System.Net.Sockets.SocketException)
                {
                }
            }
            Thread.Sleep(20);
        }
    }

    public string Root { get; }
    public string Workspace { get; }
    public string SocketPath { get; }
    public int Pid => _process.Id;

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public async Task<T> WithConnectionAsync<T>(Func<NetworkStream, Task<T>> op)
    {
        using var socket = await GuestClient.ConnectAsync(SocketPath, CancellationToken.None);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        return await op(stream);
    }

    /// <summary>SIGTERM, as a container runtime would send; returns the guest's exit code.</summary>
    public int Stop()
    {
        if (!_process.HasExited)
        {
            kill(_process.Id, 15);
            if (!_process.WaitForExit(10_000))
            {
                _process.Kill();
                _process.WaitForExit(5000);
            }
        }
        _process.WaitForExit();
        return _process.ExitCode;
    }

    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern int kill(int pid, int sig);

    public void Dispose()
    {
        GC.SuppressFinalize(this);
        Stop();
        _process.Dispose();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A guest that resolves paths with the userspace walk instead of openat2, as on gVisor.</summary>
public sealed class WalkingGuestFixture() : GuestFixture(forceWalk: true);
