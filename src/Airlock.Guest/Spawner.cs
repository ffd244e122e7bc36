using System.Runtime.InteropServices;
using Airlock.Guest.Native;

namespace Airlock.Guest;

/// <summary>The pid and the parent's ends of the pipes of a freshly spawned exec.</summary>
internal sealed record SpawnedProcess(int Pid, int StdoutFd, int StderrFd, int StdinFd);

internal sealed class SpawnException(string message) : Exception(message);

/// <summary>
/// Starts processes with libc <c>posix_spawn</c>: glibc implements it with clone(CLONE_VM|CLONE_VFORK), which
/// is safe from a multi-threaded managed process, unlike fork.
/// </summary>
internal static unsafe class Spawner
{
    private const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    private const int X_OK = 1;

    public static SpawnedProcess Spawn(IReadOnlyList<string> argv, IReadOnlyList<string> env, string cwd, bool stdin, Action<int> onExit)
    {
        var program = Resolve(argv[0], env, cwd);
        int* outPipe = stackalloc int[2], errPipe = stackalloc int[2], inPipe = stackalloc int[2];
        outPipe[0] = outPipe[1] = errPipe[0] = errPipe[1] = inPipe[0] = inPipe[1] = -1;
        var fa = NativeMemory.AllocZeroed(Libc.SpawnFileActionsSize);
        var attr = NativeMemory.AllocZeroed(Libc.SpawnAttrSize);
        var sigs = NativeMemory.AllocZeroed(Libc.SigSetSize);
        var strings = new List<nint>();
        try
        {
            // O_CLOEXEC everywhere: concurrent spawns must not inherit each other's pipes.
            if (Libc.pipe2(outPipe, Libc.O_CLOEXEC) != 0 || Libc.pipe2(errPipe, Libc.O_CLOEXEC) != 0
                || (stdin && Libc.pipe2(inPipe, Libc.O_CLOEXEC) != 0))
            {
                throw new SpawnException($"cannot run \"{argv[0]}\": pipe: {Libc.StrError(Libc.Errno)}");
            }
            // Only our read ends are non-blocking; the child's ends keep normal blocking semantics.
            SetNonBlocking(outPipe[0]);
            SetNonBlocking(errPipe[0]);

            Libc.posix_spawn_file_actions_init(fa);
            if (stdin)
            {
                Libc.posix_spawn_file_actions_adddup2(fa, inPipe[0], 0);
            }
            else
            {
                fixed (byte* devNull = Libc.Utf8z("/dev/null"))
                {
                    Libc.posix_spawn_file_actions_addopen(fa, 0, devNull, Libc.O_RDONLY, 0);
                }
            }
            Libc.posix_spawn_file_actions_adddup2(fa, outPipe[1], 1);
            Libc.posix_spawn_file_actions_adddup2(fa, errPipe[1], 2);
            var cwdz = Libc.Utf8z(cwd);
            fixed (byte* cwdp = cwdz)
            {
                Libc.posix_spawn_file_actions_addchdir_np(fa, cwdp);
            }

            Libc.posix_spawnattr_init(attr);
            // Own process group (so timeouts and signals reach the whole tree), every signal at its default
            // disposition (the runtime ignores SIGPIPE, which `yes | head` relies on) and nothing blocked.
            Libc.posix_spawnattr_setflags(attr, Libc.POSIX_SPAWN_SETPGROUP | Libc.POSIX_SPAWN_SETSIGDEF | Libc.POSIX_SPAWN_SETSIGMASK);
            Libc.posix_spawnattr_setpgroup(attr, 0);
            Libc.sigfillset(sigs);
            Libc.posix_spawnattr_setsigdefault(attr, sigs);
            Libc.sigemptyset(sigs);
            Libc.posix_spawnattr_setsigmask(attr, sigs);

            var argvp = ToNative(argv, strings);
            var envp = ToNative(env, strings);
            var pathz = Libc.Utf8z(program);
            var err = 0;
            var pid = ChildReaper.Instance.Spawn(() =>
            {
                int p;
                fixed (byte* path = pathz)
                {
                    err = Libc.posix_spawn(&p, path, fa, attr, (byte**)argvp, (byte**)envp);
                }
                return err == 0 ? p : -1;
            }, onExit);
            if (pid < 0)
            {
                throw new SpawnException(Describe(argv[0], cwd, err));
            }
            var result = new SpawnedProcess(pid, outPipe[0], errPipe[0], inPipe[1]);
            outPipe[0] = errPipe[0] = inPipe[1] = -1; // ownership moves to the caller
            return result;
        }
        finally
        {
            Libc.posix_spawn_file_actions_destroy(fa);
            Libc.posix_spawnattr_destroy(attr);
            NativeMemory.Free(fa);
            NativeMemory.Free(attr);
            NativeMemory.Free(sigs);
            foreach (var s in strings)
            {
                Marshal.FreeCoTaskMem(s);
            }
            for (var i = 0; i < 2; i++)
            {
                CloseIfOpen(outPipe[i]);
                CloseIfOpen(errPipe[i]);
                CloseIfOpen(inPipe[i]);
            }
        }
    }

    /// <summary>
    /// PATH lookup against the request's environment. posix_spawnp would search the guest's own PATH, but the
    /// exec's environment is exactly what the host sent.
    /// </summary>
    internal static string Resolve(string program, IReadOnlyList<string> env, string cwd)
    {
        if (program.Contains('/'))
        {
            return program; // relative to cwd, which the child enters before exec
        }
        var path = DefaultPath;
        foreach (var e in env)
        {
            if (e.StartsWith("PATH=", StringComparison.Ordinal))
            {
                path = e[5..];
            }
        }
        foreach (var dir in path.Split(':'))
        {
            var d = dir.Length == 0 ? cwd : dir.StartsWith('/') ? dir : Path.Combine(cwd, dir);
            var candidate = Path.Join(d, program);
            fixed (byte* p = Libc.Utf8z(candidate))
            {
                if (Libc.access(p, X_OK) == 0 && !Directory.Exists(candidate))
                {
                    return candidate;
                }
            }
        }
        throw new SpawnException($"cannot run \"{program}\": No such file or directory (not found in PATH={path})");
    }

    private static string Describe(string program, string cwd, int err)
    {
        if (err == Libc.ENOENT && !Directory.Exists(cwd))
        {
            return $"cannot run \"{program}\": working directory \"{cwd}\": No such file or directory";
        }
        return $"cannot run \"{program}\": {Libc.StrError(err)}";
    }

    private static nint ToNative(IReadOnlyList<string> items, List<nint> owned)
    {
        var array = Marshal.AllocCoTaskMem((items.Count + 1) * sizeof(nint));
        owned.Add(array);
        var slots = (nint*)array;
        for (var i = 0; i < items.Count; i++)
        {
            slots[i] = Marshal.StringToCoTaskMemUTF8(items[i]);
            owned.Add(slots[i]);
        }
        slots[items.Count] = 0;
        return array;
    }

    private static void SetNonBlocking(int fd)
    {
        var flags = Libc.fcntl(fd, Libc.F_GETFL, 0);
        Libc.fcntl(fd, Libc.F_SETFL, flags | Libc.O_NONBLOCK);
    }

    private static void CloseIfOpen(int fd)
    {
        if (fd >= 0)
        {
            Libc.close(fd);
        }
    }
}
