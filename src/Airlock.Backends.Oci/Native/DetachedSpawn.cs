using System.Runtime.InteropServices;

namespace Airlock.Backends.Oci.Native;

/// <summary>
/// Starts a runtime command whose children outlive it (<c>run --detach</c>) with stdin and stdout on /dev/null and
/// stderr in a log file. System.Diagnostics.Process can only give a child pipes, and the detached container would
/// inherit and hold them open forever. posix_spawn runs from the calling thread (clone with CLONE_VFORK), so a
/// caller in a private mount namespace passes that namespace on, as with Process.Start.
/// </summary>
internal static unsafe partial class DetachedSpawn
{
    private const int O_RDONLY = 0;
    private const int O_WRONLY = 1;
    private const int O_CREAT = 0x40;
    private const int O_TRUNC = 0x200;
    private const int EINTR = 4;

    public static int Run(string program, IReadOnlyList<string> args, IReadOnlyList<string> env, string stderrLog)
    {
        var fa = NativeMemory.AllocZeroed(256);
        var strings = new List<nint>();
        try
        {
            _ = posix_spawn_file_actions_init(fa);
            _ = posix_spawn_file_actions_addopen(fa, 0, Str("/dev/null", strings), O_RDONLY, 0);
            _ = posix_spawn_file_actions_addopen(fa, 1, Str("/dev/null", strings), O_WRONLY, 0);
            _ = posix_spawn_file_actions_addopen(fa, 2, Str(stderrLog, strings), O_WRONLY | O_CREAT | O_TRUNC, 0x180);
            var argv = Array(new[] { program }.Concat(args), strings);
            var envp = Array(env, strings);
            int pid;
            var err = posix_spawn(&pid, Str(program, strings), fa, null, argv, envp);
            if (err != 0)
            {
                throw new IOException($"cannot start {program}: {Libc.ErrorText(err)}");
            }
            int status;
            while (waitpid(pid, &status, 0) < 0)
            {
                if (Marshal.GetLastPInvokeError() != EINTR)
                {
                    throw new IOException($"waitpid {program}: {Libc.ErrorText(Marshal.GetLastPInvokeError())}");
                }
            }
            return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);
        }
        finally
        {
            _ = posix_spawn_file_actions_destroy(fa);
            NativeMemory.Free(fa);
            foreach (var s in strings)
            {
                Marshal.FreeCoTaskMem(s);
            }
        }
    }

    private static byte* Str(string s, List<nint> owned)
    {
        var p = Marshal.StringToCoTaskMemUTF8(s);
        owned.Add(p);
        return (byte*)p;
    }

    private static byte** Array(IEnumerable<string> items, List<nint> owned)
    {
        var list = items.ToList();
        var arr = (byte**)Marshal.AllocCoTaskMem((list.Count + 1) * sizeof(nint));
        owned.Add((nint)arr);
        for (var i = 0; i < list.Count; i++)
        {
            arr[i] = Str(list[i], owned);
        }
        arr[list.Count] = null;
        return arr;
    }

    [LibraryImport("libc")] private static partial int posix_spawn(int* pid, byte* path, void* fileActions, void* attr, byte** argv, byte** envp);
    [LibraryImport("libc")] private static partial int posix_spawn_file_actions_init(void* fa);
    [LibraryImport("libc")] private static partial int posix_spawn_file_actions_destroy(void* fa);
    [LibraryImport("libc")] private static partial int posix_spawn_file_actions_addopen(void* fa, int fd, byte* path, int flags, uint mode);
    [LibraryImport("libc", SetLastError = true)] private static partial int waitpid(int pid, int* status, int options);
}
