using Airlock.Guest.Native;

namespace Airlock.Guest;

/// <summary>
/// Reaps every child of the guest with <c>waitpid(-1)</c> on one dedicated thread. As PID 1 (or a subreaper)
/// the guest inherits every orphan in the sandbox, e.g. double-forked daemons; reaping them here keeps the
/// process table free of zombies, and known pids are handed to the exec that spawned them.
/// </summary>
internal sealed unsafe class ChildReaper
{
    public static readonly ChildReaper Instance = new();

    private readonly Lock _gate = new();
    private readonly Dictionary<int, Action<int>> _waiters = [];
    private readonly HashSet<int> _groups = [];
    private readonly AutoResetEvent _childSpawned = new(false);
    private int _started;

    private ChildReaper()
    {
    }

    /// <summary>Process groups of every exec started so far (for shutdown).</summary>
    public int[] Groups
    {
        get
        {
            lock (_gate)
            {
                return [.. _groups];
            }
        }
    }

    public void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            return;
        }
        // Orphans of our descendants become our children even when we are not PID 1 (tests, nested use).
        Libc.prctl(Libc.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        new Thread(Loop) { IsBackground = true, Name = "reaper" }.Start();
    }

    /// <summary>
    /// Runs <paramref name="spawn"/> (which returns a pid, or -1) while holding the reaper's lock, so the
    /// child cannot be reaped before <paramref name="onExit"/> is registered for it.
    /// </summary>
    public int Spawn(Func<int> spawn, Action<int> onExit)
    {
        int pid;
        lock (_gate)
        {
            pid = spawn();
            if (pid > 0)
            {
                _waiters[pid] = onExit;
                _groups.Add(pid);
            }
        }
        if (pid > 0)
        {
            _childSpawned.Set();
        }
        return pid;
    }

    public void ForgetGroup(int pgid)
    {
        lock (_gate)
        {
            _groups.Remove(pgid);
        }
    }

    private void Loop()
    {
        while (true)
        {
            int status;
            var pid = Libc.waitpid(-1, &status, 0);
            if (pid > 0)
            {
                Action<int>? onExit;
                lock (_gate)
                {
                    // Unknown pids are orphans we adopted: reaping them was the whole point.
                    _waiters.Remove(pid, out onExit);
                }
                onExit?.Invoke(status);
                continue;
            }
            var errno = Libc.Errno;
            if (errno == Libc.ECHILD)
            {
                // No children right now; sleep until a spawn (orphans can only come from our descendants).
                _childSpawned.WaitOne(1000);
            }
            else if (errno != Libc.EINTR)
            {
                Log.Write($"waitpid failed: {Libc.StrError(errno)}");
                Thread.Sleep(100);
            }
        }
    }

    /// <summary>Decodes a wait status into (exit code, signal) with the shell's 128+signal convention.</summary>
    public static (int ExitCode, int? Signal) Decode(int status)
    {
        var sig = status & 0x7f;
        if (sig == 0)
        {
            return ((status >> 8) & 0xff, null);
        }
        return (128 + sig, sig);
    }
}
