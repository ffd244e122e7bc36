using System.Runtime.InteropServices;
using Airlock.Guest.Native;

namespace Airlock.Guest.Files;

/// <summary>Directory primitives on fds: listing, stat of a name, mkdir, and a removal that never follows symlinks.</summary>
internal static unsafe class Directories
{
    private const int F_DUPFD_CLOEXEC = 1030;
    private const int DirentTypeOffset = 18, DirentNameOffset = 19; // struct dirent on 64-bit glibc and musl
    private const byte DT_DIR = 4, DT_UNKNOWN = 0;

    public static List<string> ReadNames(int dirfd) => [.. ReadEntries(dirfd).Select(e => e.Name)];

    /// <summary>Names (without . and ..) and their d_type. Reads through a duplicate fd because closedir
    /// closes the fd it was given.</summary>
    public static List<(string Name, byte Type)> ReadEntries(int dirfd)
    {
        var dup = Libc.fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
        if (dup < 0)
        {
            throw new ErrnoException(Libc.Errno, "dup");
        }
        var dir = Libc.fdopendir(dup);
        if (dir == 0)
        {
            var errno = Libc.Errno;
            Libc.close(dup);
            throw new ErrnoException(errno, "opendir");
        }
        try
        {
            var result = new List<(string, byte)>();
            while (Libc.readdir(dir) is var ent && ent != null)
            {
                var name = Marshal.PtrToStringUTF8((nint)(ent + DirentNameOffset))!;
                if (name is not ("." or ".."))
                {
                    result.Add((name, ent[DirentTypeOffset]));
                }
            }
            return result;
        }
        finally
        {
            Libc.closedir(dir);
        }
    }

    /// <summary>lstat of <paramref name="name"/> in <paramref name="dirfd"/>, or of the fd itself for "".</summary>
    public static Libc.Statx Stat(int dirfd, string name)
    {
        Libc.Statx st;
        var flags = Libc.AT_SYMLINK_NOFOLLOW | (name.Length == 0 ? Libc.AT_EMPTY_PATH : 0);
        fixed (byte* p = Libc.Utf8z(name))
        {
            if (Libc.statx(dirfd, p, flags, Libc.STATX_BASIC_STATS, &st) != 0)
            {
                throw new ErrnoException(Libc.Errno, "stat");
            }
        }
        return st;
    }

    /// <summary>Returns 0 or the errno.</summary>
    public static int MkdirAt(int dirfd, string name, uint mode)
    {
        fixed (byte* p = Libc.Utf8z(name))
        {
            return Libc.mkdirat(dirfd, p, mode) == 0 ? 0 : Libc.Errno;
        }
    }

    /// <summary>Removes a file, symlink or directory; with <paramref name="recursive"/> a directory's contents
    /// too. Subdirectories are opened with O_NOFOLLOW, so a symlink inside the tree is unlinked, not entered.</summary>
    public static void Remove(int dirfd, string name, bool recursive)
    {
        var isDir = (Stat(dirfd, name).Mode & Libc.S_IFMT) == Libc.S_IFDIR;
        if (isDir && recursive)
        {
            int fd;
            fixed (byte* p = Libc.Utf8z(name))
            {
                fd = Libc.openat(dirfd, p, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
            }
            if (fd < 0)
            {
                throw new ErrnoException(Libc.Errno, "open");
            }
            try
            {
                foreach (var (child, type) in ReadEntries(fd))
                {
                    var childIsDir = type == DT_DIR
                        || (type == DT_UNKNOWN && (Stat(fd, child).Mode & Libc.S_IFMT) == Libc.S_IFDIR);
                    if (childIsDir)
                    {
                        Remove(fd, child, recursive: true);
                    }
                    else
                    {
                        Unlink(fd, child, 0);
                    }
                }
            }
            finally
            {
                Libc.close(fd);
            }
        }
        Unlink(dirfd, name, isDir ? Libc.AT_REMOVEDIR : 0);
    }

    private static void Unlink(int dirfd, string name, int flags)
    {
        fixed (byte* p = Libc.Utf8z(name))
        {
            if (Libc.unlinkat(dirfd, p, flags) != 0)
            {
                throw new ErrnoException(Libc.Errno, "unlink");
            }
        }
    }
}
