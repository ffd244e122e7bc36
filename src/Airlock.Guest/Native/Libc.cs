using System.Runtime.InteropServices;

namespace Airlock.Guest.Native;

/// <summary>
/// The libc surface the guest needs. Everything goes through libc (not System.Diagnostics.Process or
/// System.Console) because the guest owns child reaping and must not share it with the runtime.
/// </summary>
internal static unsafe partial class Libc
{
    private const string Lib = "libc";

    // errno values (identical on x86_64 and aarch64).
    public const int EPERM = 1, ENOENT = 2, EINTR = 4, ECHILD = 10, EAGAIN = 11, EACCES = 13, EEXIST = 17,
        EXDEV = 18, ENOTDIR = 20, EISDIR = 21, EINVAL = 22, ENOSPC = 28, ENAMETOOLONG = 36, ENOSYS = 38,
        ENOTEMPTY = 39, ELOOP = 40, EDQUOT = 122;

    public const int O_RDONLY = 0, O_WRONLY = 1, O_CREAT = 0x40, O_EXCL = 0x80, O_TRUNC = 0x200,
        O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000, O_PATH = 0x200000;

    // These two differ between architectures (asm-generic vs x86).
    public static readonly int O_DIRECTORY = IsArm64 ? 0x4000 : 0x10000;
    public static readonly int O_NOFOLLOW = IsArm64 ? 0x8000 : 0x20000;

    private static bool IsArm64 => RuntimeInformation.ProcessArchitecture == Architecture.Arm64;

    public const int AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200, AT_EMPTY_PATH = 0x1000;
    public const int F_GETFL = 3, F_SETFL = 4;
    public const int SIGKILL = 9, SIGTERM = 15;
    public const int PR_SET_CHILD_SUBREAPER = 36;
    public const short POLLIN = 0x1, POLLERR = 0x8, POLLHUP = 0x10, POLLNVAL = 0x20;
    public const int EFD_CLOEXEC = O_CLOEXEC, EFD_NONBLOCK = O_NONBLOCK;

    public const short POSIX_SPAWN_SETPGROUP = 0x02, POSIX_SPAWN_SETSIGDEF = 0x04, POSIX_SPAWN_SETSIGMASK = 0x08;

    public const int S_IFMT = 0xF000, S_IFDIR = 0x4000, S_IFREG = 0x8000, S_IFLNK = 0xA000;

    public const long SYS_openat2 = 437; // same number on every architecture (added after the syscall table unification)
    public const ulong RESOLVE_NO_MAGICLINKS = 0x02, RESOLVE_BENEATH = 0x08;

    [StructLayout(LayoutKind.Sequential)]
    public struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    /// <summary>The fields of <c>struct statx</c> we use; the kernel struct is 256 bytes and arch-independent.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    public struct Statx
    {
        [FieldOffset(28)] public ushort Mode;
        [FieldOffset(40)] public ulong Size;
        [FieldOffset(112)] public long MtimeSec;
        [FieldOffset(120)] public uint MtimeNsec;
    }

    public const uint STATX_BASIC_STATS = 0x7ff;

    // glibc's posix_spawn types are opaque; these sizes exceed both glibc (80/336) and musl.
    public const int SpawnFileActionsSize = 256, SpawnAttrSize = 1024, SigSetSize = 128;

    public static int Errno => Marshal.GetLastPInvokeError();

    public static string StrError(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    [LibraryImport(Lib, SetLastError = true)] public static partial int close(int fd);
    [LibraryImport(Lib, SetLastError = true)] public static partial nint read(int fd, byte* buf, nint count);
    [LibraryImport(Lib, SetLastError = true)] public static partial nint write(int fd, byte* buf, nint count);
    [LibraryImport(Lib, SetLastError = true)] public static partial int pipe2(int* fds, int flags);
    [LibraryImport(Lib, SetLastError = true)] public static partial int fcntl(int fd, int cmd, int arg);
    [LibraryImport(Lib, SetLastError = true)] public static partial int poll(PollFd* fds, nuint nfds, int timeoutMs);
    [LibraryImport(Lib, SetLastError = true)] public static partial int eventfd(uint initval, int flags);
    [LibraryImport(Lib, SetLastError = true)] public static partial int kill(int pid, int sig);
    [LibraryImport(Lib, SetLastError = true)] public static partial int waitpid(int pid, int* status, int options);
    [LibraryImport(Lib, SetLastError = true)] public static partial int prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);
    [LibraryImport(Lib)] public static partial int getpid();
    [LibraryImport(Lib, SetLastError = true)] public static partial int access(byte* path, int mode);
    [LibraryImport(Lib, SetLastError = true)] public static partial int chmod(byte* path, uint mode);

    [LibraryImport(Lib, SetLastError = true)] public static partial int openat(int dirfd, byte* path, int flags, uint mode);
    [LibraryImport(Lib, SetLastError = true)] public static partial long syscall(long number, int dirfd, byte* path, OpenHow* how, nuint size);
    [LibraryImport(Lib, SetLastError = true)] public static partial nint readlinkat(int dirfd, byte* path, byte* buf, nint size);
    [LibraryImport(Lib, SetLastError = true)] public static partial int mkdirat(int dirfd, byte* path, uint mode);
    [LibraryImport(Lib, SetLastError = true)] public static partial int unlinkat(int dirfd, byte* path, int flags);
    [LibraryImport(Lib, SetLastError = true)] public static partial int statx(int dirfd, byte* path, int flags, uint mask, Statx* buf);
    [LibraryImport(Lib, SetLastError = true)] public static partial int fchmod(int fd, uint mode);
    [LibraryImport(Lib, SetLastError = true)] public static partial nint fdopendir(int fd);
    [LibraryImport(Lib, SetLastError = true)] public static partial byte* readdir(nint dir);
    [LibraryImport(Lib, SetLastError = true)] public static partial int closedir(nint dir);

    [LibraryImport(Lib)] public static partial int posix_spawn(int* pid, byte* path, void* fileActions, void* attr, byte** argv, byte** envp);
    [LibraryImport(Lib)] public static partial int posix_spawn_file_actions_init(void* fa);
    [LibraryImport(Lib)] public static partial int posix_spawn_file_actions_destroy(void* fa);
    [LibraryImport(Lib)] public static partial int posix_spawn_file_actions_adddup2(void* fa, int fd, int newfd);
    [LibraryImport(Lib)] public static partial int posix_spawn_file_actions_addopen(void* fa, int fd, byte* path, int flags, uint mode);
    [LibraryImport(Lib)] public static partial int posix_spawn_file_actions_addchdir_np(void* fa, byte* path);
    [LibraryImport(Lib)] public static partial int posix_spawnattr_init(void* attr);
    [LibraryImport(Lib)] public static partial int posix_spawnattr_destroy(void* attr);
    [LibraryImport(Lib)] public static partial int posix_spawnattr_setflags(void* attr, short flags);
    [LibraryImport(Lib)] public static partial int posix_spawnattr_setpgroup(void* attr, int pgroup);
    [LibraryImport(Lib)] public static partial int posix_spawnattr_setsigdefault(void* attr, void* sigset);
    [LibraryImport(Lib)] public static partial int posix_spawnattr_setsigmask(void* attr, void* sigset);
    [LibraryImport(Lib)] public static partial int sigemptyset(void* set);
    [LibraryImport(Lib)] public static partial int sigfillset(void* set);

    /// <summary>A NUL-terminated UTF-8 copy of <paramref name="s"/> for the duration of a native call.</summary>
    public static byte[] Utf8z(string s)
    {
        var bytes = new byte[System.Text.Encoding.UTF8.GetByteCount(s) + 1];
        System.Text.Encoding.UTF8.GetBytes(s, bytes);
        return bytes;
    }
}
