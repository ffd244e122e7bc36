using System.Runtime.InteropServices;

namespace Airlock.Backends.Oci.Native;

/// <summary>The few host syscalls the backend needs that .NET does not wrap.</summary>
internal static partial class Libc
{
    public const ulong MS_NOSUID = 0x2;
    public const ulong MS_NODEV = 0x4;
    public const ulong MS_NOEXEC = 0x8;
    public const ulong MS_REC = 0x4000;
    public const ulong MS_SLAVE = 1 << 19;
    public const int MNT_DETACH = 2;
    public const int CLONE_NEWNS = 0x00020000;
    public const int SIGKILL = 9;
    public const int EINVAL = 22;
    public const int ENOENT = 2;
    public const int ESRCH = 3;

    [LibraryImport("libc", EntryPoint = "realpath", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint RealpathNative(string path, nint resolved);

    [LibraryImport("libc", EntryPoint = "free")]
    private static partial void Free(nint p);

    /// <summary>The path with every symlink resolved (realpath(3)), or null when it does not exist.</summary>
    public static string? Realpath(string path)
    {
        var p = RealpathNative(path, 0);
        if (p == 0)
        {
            return null;
        }
        try
        {
            return Marshal.PtrToStringUTF8(p);
        }
        finally
        {
            Free(p);
        }
    }

    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Mount(string? source, string target, string? fstype, ulong flags, string? data);

    [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Umount2(string target, int flags);

    [LibraryImport("libc", EntryPoint = "unshare", SetLastError = true)]
    public static partial int Unshare(int flags);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int sig);

    [LibraryImport("libc", EntryPoint = "chown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Chown(string path, uint uid, uint gid);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial uint GetEuid();

    public static int Errno => Marshal.GetLastPInvokeError();

    public static string ErrorText(int errno) => Marshal.GetPInvokeErrorMessage(errno);
}
