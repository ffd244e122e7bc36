using System.Diagnostics;
using System.Text.Json;
using Airlock.Guest.Native;
using Airlock.Guest.Protocol;
using Microsoft.Win32.SafeHandles;

namespace Airlock.Guest;

/// <summary>
/// Runs one <see cref="ExecRequest"/>: spawns the process in its own group, streams its output as frames while
/// it runs, enforces the timeout and output cap, and answers with <see cref="FrameType.ExecExit"/>.
/// </summary>
internal sealed class ExecRunner
{
    private const int ChunkSize = 64 * 1024;
    /// <summary>How long to keep reading after the main process exited: a daemon it left behind may hold
    /// the pipes open forever, and the exec must still finish.</summary>
    private const int DrainAfterExitMs = 50;

    private readonly Connection _conn;
    private readonly ExecRequest _req;
    private readonly int _wakeFd;
    private int _pid;
    private int _exitStatus;
    private volatile bool _exited;
    private volatile bool _hostGone;
    private volatile bool _finished;
    private string? _killReason;
    private string? _protocolError;
    private FileStream? _stdin;

    private ExecRunner(Connection conn, ExecRequest req)
    {
        _conn = conn;
        _req = req;
        _wakeFd = Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
    }

    /// <summary>Runs the exec and returns its exit code; when it never started an Error frame was sent and the
    /// result is <see cref="GuestExitCodes.GuestError"/> or <see cref="GuestExitCodes.SpawnFailed"/>.</summary>
    public static async Task<int> RunAsync(Connection conn, ExecRequest req, string workspace, CancellationToken shutdown)
    {
        if (Validate(req) is { } problem)
        {
            await conn.SendErrorAsync(ErrorCodes.Protocol, problem).ConfigureAwait(false);
            return GuestExitCodes.GuestError;
        }
        var runner = new ExecRunner(conn, req);
        try
        {
            return await runner.RunCoreAsync(string.IsNullOrEmpty(req.Cwd) ? workspace : req.Cwd, shutdown).ConfigureAwait(false);
        }
        finally
        {
            Libc.close(runner._wakeFd);
        }
    }

    private static string? Validate(ExecRequest req)
    {
        if (req.Argv is null || req.Argv.Count == 0 || string.IsNullOrEmpty(req.Argv[0]))
        {
            return "exec request: argv must name a program";
        }
        if (req.Env is null)
        {
            return "exec request: env is required (it may be empty)";
        }
        if (req.Argv.Concat(req.Env).Append(req.Cwd ?? "").Any(s => s is null || s.Contains('\0')))
        {
            return "exec request: argv, env and cwd must not contain NUL characters";
        }
        if (req.TimeoutMs < 0 || req.OutputLimitBytes < 0)
        {
            return "exec request: timeoutMs and outputLimitBytes must not be negative";
        }
        return null;
    }

    private async Task<int> RunCoreAsync(string cwd, CancellationToken shutdown)
    {
        var clock = Stopwatch.StartNew();
        SpawnedProcess proc;
        try
        {
            proc = Spawner.Spawn(_req.Argv, _req.Env, cwd, _req.Stdin, OnExit);
        }
        catch (SpawnException e)
        {
            await _conn.SendErrorAsync(ErrorCodes.SpawnFailed, e.Message).ConfigureAwait(false);
            return GuestExitCodes.SpawnFailed;
        }
        _pid = proc.Pid;
        if (proc.StdinFd >= 0)
        {
            _stdin = new FileStream(new SafeFileHandle(proc.StdinFd, ownsHandle: true), FileAccess.Write, 0);
        }

        using var stopHost = new CancellationTokenSource();
        using var onShutdown = shutdown.Register(() => Kill(KillReasons.SandboxGone));
        var hostReader = Task.Run(() => ReadHostAsync(stopHost.Token));
        var pump = Task.Factory.StartNew(() => Pump(proc, clock), CancellationToken.None,
            TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var (stdoutBytes, stderrBytes, truncated) = await pump.ConfigureAwait(false);
        _finished = true;
        stopHost.Cancel();
        CloseStdin();
        ChildReaper.Instance.ForgetGroup(_pid);

        var (exitCode, signal) = ChildReaper.Decode(Volatile.Read(ref _exitStatus));
        var reason = Volatile.Read(ref _killReason);
        if (reason == KillReasons.Signal && signal is null)
        {
            reason = null; // the host's signal was handled; the process ended on its own terms
        }
        if (!_hostGone)
        {
            try
            {
                if (Volatile.Read(ref _protocolError) is { } problem)
                {
                    await _conn.SendErrorAsync(ErrorCodes.Protocol, problem).ConfigureAwait(false);
                }
                else
                {
                    await _conn.Writer.WriteJsonAsync(FrameType.ExecExit, new ExecResult(exitCode, signal, reason,
                        clock.ElapsedMilliseconds, stdoutBytes, stderrBytes, truncated)).ConfigureAwait(false);
                }
            }
            catch (IOException)
            {
                // The host went away after the process finished; nothing left to tell it.
            }
        }
        await Task.WhenAny(hostReader, Task.Delay(100)).ConfigureAwait(false);
        return exitCode;
    }

    /// <summary>Called on the reaper thread when the exec's main process has been reaped.</summary>
    private void OnExit(int status)
    {
        Volatile.Write(ref _exitStatus, status);
        _exited = true;
        Wake();
    }

    private unsafe void Wake()
    {
        ulong one = 1;
        Libc.write(_wakeFd, (byte*)&one, sizeof(ulong));
    }

    /// <summary>SIGKILLs the exec's process group; the first reason recorded is the one reported.</summary>
    private void Kill(string? reason)
    {
        if (reason is not null)
        {
            Interlocked.CompareExchange(ref _killReason, reason, null);
        }
        if (!_exited && _pid > 0)
        {
            Libc.kill(-_pid, Libc.SIGKILL);
        }
        Wake();
    }

    private void CloseStdin()
    {
        var stdin = Interlocked.Exchange(ref _stdin, null);
        try
        {
            stdin?.Dispose();
        }
        catch (IOException)
        {
            // EPIPE on the final flush: the process stopped reading, which is its business.
        }
    }

    /// <summary>Frames the host may send while the process runs: stdin, end of stdin, signals.</summary>
    private async Task ReadHostAsync(CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var frame = await _conn.Reader.ReadAsync(ct).ConfigureAwait(false);
                switch (frame?.Type)
                {
                    case null:
                        HostGone();
                        return;
                    case FrameType.Stdin when _stdin is { } stdin:
                        try
                        {
                            await stdin.WriteAsync(frame.Value.Payload, ct).ConfigureAwait(false);
                        }
                        catch (IOException)
                        {
                            CloseStdin(); // the process closed its stdin; drop the rest
                        }
                        break;
                    case FrameType.Stdin:
                        break; // stdin already closed (or never requested): discard
                    case FrameType.StdinEnd:
                        CloseStdin();
                        break;
                    case FrameType.Signal:
                        var sig = frame.Value.Json<SignalRequest>().Signal;
                        if (sig is < 1 or > 64)
                        {
                            throw new ProtocolException($"signal {sig} is not a valid signal number");
                        }
                        Interlocked.CompareExchange(ref _killReason, KillReasons.Signal, null);
                        if (!_exited)
                        {
                            Libc.kill(-_pid, sig);
                        }
                        break;
                    default:
                        throw new ProtocolException($"unexpected {frame.Value.Type} frame during an exec");
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is ProtocolException or JsonException)
        {
            Volatile.Write(ref _protocolError, e.Message);
            Kill(null);
        }
        catch (Exception) when (!_finished)
        {
            HostGone();
        }
        catch (Exception)
        {
            // Connection torn down after the exec finished.
        }
    }

    private void HostGone()
    {
        if (_finished)
        {
            return;
        }
        // Nobody is left to read the output or stop the process: don't leave it running unsupervised.
        _hostGone = true;
        Kill(null);
    }

    /// <summary>
    /// Reads both pipes with poll() on a dedicated thread until they reach EOF and the process has exited, or the
    /// process has exited and the drain window has passed. Also the place where timeout and output cap are enforced.
    /// </summary>
    private unsafe (long Stdout, long Stderr, bool Truncated) Pump(SpawnedProcess proc, Stopwatch clock)
    {
        var fds = stackalloc Libc.PollFd[3];
        fds[0] = new Libc.PollFd { Fd = proc.StdoutFd, Events = Libc.POLLIN };
        fds[1] = new Libc.PollFd { Fd = proc.StderrFd, Events = Libc.POLLIN };
        fds[2] = new Libc.PollFd { Fd = _wakeFd, Events = Libc.POLLIN };
        var buffer = new byte[ChunkSize];
        long sent = 0, stdoutBytes = 0, stderrBytes = 0;
        var truncated = false;
        var limit = _req.OutputLimitBytes;
        long? drainUntil = null;
        var timedOut = false;
        try
        {
            while (true)
            {
                var pipesOpen = fds[0].Fd >= 0 || fds[1].Fd >= 0;
                if (_exited)
                {
                    drainUntil ??= clock.ElapsedMilliseconds + DrainAfterExitMs;
                    if (!pipesOpen || clock.ElapsedMilliseconds >= drainUntil)
                    {
                        break;
                    }
                }
                if (!timedOut && _req.TimeoutMs > 0 && clock.ElapsedMilliseconds >= _req.TimeoutMs)
                {
                    timedOut = true;
                    Kill(KillReasons.Timeout);
                }

                var wait = -1L;
                if (drainUntil is { } d)
                {
                    wait = Math.Max(0, d - clock.ElapsedMilliseconds);
                }
                else if (!timedOut && _req.TimeoutMs > 0)
                {
                    wait = Math.Max(0, _req.TimeoutMs - clock.ElapsedMilliseconds);
                }
                var n = Libc.poll(fds, 3, (int)Math.Min(wait, int.MaxValue));
                if (n < 0)
                {
                    if (Libc.Errno == Libc.EINTR)
                    {
                        continue;
                    }
                    throw new IOException($"poll: {Libc.StrError(Libc.Errno)}");
                }
                if (fds[2].Revents != 0)
                {
                    ulong drained;
                    Libc.read(_wakeFd, (byte*)&drained, sizeof(ulong));
                }
                for (var i = 0; i < 2; i++)
                {
                    if (fds[i].Fd < 0 || fds[i].Revents == 0)
                    {
                        continue;
                    }
                    nint got;
                    fixed (byte* b = buffer)
                    {
                        got = Libc.read(fds[i].Fd, b, buffer.Length);
                    }
                    if (got < 0 && Libc.Errno is Libc.EAGAIN or Libc.EINTR)
                    {
                        continue;
                    }
                    if (got <= 0)
                    {
                        Libc.close(fds[i].Fd);
                        fds[i].Fd = -1; // poll ignores negative fds
                        continue;
                    }
                    var chunk = buffer.AsMemory(0, (int)got);
                    if (limit > 0 && sent + got > limit)
                    {
                        chunk = chunk[..(int)(limit - sent)];
                        if (!truncated)
                        {
                            truncated = true;
                            Kill(KillReasons.OutputLimit);
                        }
                    }
                    if (chunk.Length == 0)
                    {
                        continue; // past the cap: keep draining so the process isn't blocked, but discard
                    }
                    sent += chunk.Length;
                    if (i == 0)
                    {
                        stdoutBytes += chunk.Length;
                    }
                    else
                    {
                        stderrBytes += chunk.Length;
                    }
                    Send(i == 0 ? FrameType.Stdout : FrameType.Stderr, chunk);
                }
            }
        }
        finally
        {
            for (var i = 0; i < 2; i++)
            {
                if (fds[i].Fd >= 0)
                {
                    Libc.close(fds[i].Fd);
                }
            }
        }
        return (stdoutBytes, stderrBytes, truncated);
    }

    private void Send(FrameType type, ReadOnlyMemory<byte> chunk)
    {
        if (_hostGone)
        {
            return;
        }
        try
        {
            // This is the pump's own thread, so blocking on the write gives natural backpressure.
            _conn.Writer.WriteAsync(type, chunk).AsTask().GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            HostGone();
        }
    }
}
