using Airlock.Guest.Native;

namespace Airlock.Guest.Files;

/// <summary>
/// Opens paths strictly beneath a root directory fd. Uses <c>openat2(RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS)</c>,
/// where the kernel guarantees confinement even against concurrent renames; where openat2 is missing (gVisor
/// builds, kernels &lt; 5.6, seccomp profiles) it walks the path itself one component at a time with
/// <c>O_PATH|O_NOFOLLOW</c>, expanding symlinks by hand and refusing anything that would climb above the root.
/// </summary>
internal sealed unsafe class BeneathResolver : IDisposable
{
    public const int MaxSymlinks = 40;

    private static volatile bool s_openat2Missing;
    private readonly bool _forceFallback;

    public BeneathResolver(string root, bool forceFallback = false)
    {
        _forceFallback = forceFallback;
        fixed (byte* p = Libc.Utf8z(root))
        {
            RootFd = Libc.openat(-100 /* AT_FDCWD */, p, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        }
        if (RootFd < 0)
        {
            throw new ErrnoException(Libc.Errno, "open workspace");
        }
    }

    public int RootFd { get; }

    /// <summary>
    /// Opens <paramref name="components"/> (already free of <c>..</c>, <c>.</c> and empty parts) relative to the
    /// root. Returns an fd the caller owns. An empty list opens the root itself.
    /// </summary>
    public int Open(IReadOnlyList<string> components, int flags, uint mode = 0)
    {
        flags |= Libc.O_CLOEXEC;
        if (!_forceFallback && !s_openat2Missing)
        {
            var how = new Libc.OpenHow
            {
                Flags = (ulong)(uint)flags,
                Mode = (flags & Libc.O_CREAT) != 0 ? mode : 0,
                Resolve = Libc.RESOLVE_BENEATH | Libc.RESOLVE_NO_MAGICLINKS,
            };
            var rel = components.Count == 0 ? "." : string.Join('/', components);
            long fd;
            fixed (byte* p = Libc.Utf8z(rel))
            {
                fd = Libc.syscall(Libc.SYS_openat2, RootFd, p, &how, (nuint)sizeof(Libc.OpenHow));
            }
            if (fd >= 0)
            {
                return (int)fd;
            }
            var errno = Libc.Errno;
            switch (errno)
            {
                case Libc.EXDEV:
                case Libc.ELOOP:
                    throw new PathEscapeException("escapes the workspace");
                case Libc.ENOSYS:
                    s_openat2Missing = true;
                    break;
                case Libc.EPERM:
                    break; // some seccomp profiles answer EPERM for syscalls they don't know: retry by walking
                default:
                    throw new ErrnoException(errno, "open");
            }
        }
        return OpenByWalking(components, flags, mode);
    }

    /// <summary>
    /// Userspace equivalent of RESOLVE_BENEATH. A stack of directory fds mirrors the path walked so far, so a
    /// <c>..</c> coming from a symlink target pops back to the real parent and can never pop past the root.
    /// </summary>
    internal int OpenByWalking(IReadOnlyList<string> components, int flags, uint mode)
    {
        var pending = new LinkedList<string>(components);
        var dirs = new Stack<int>();
        dirs.Push(RootFd);
        var links = 0;
        var follow = (flags & Libc.O_NOFOLLOW) == 0;
        try
        {
            while (pending.First is { } node)
            {
                var name = node.Value;
                pending.RemoveFirst();
                if (name is "" or ".")
                {
                    continue;
                }
                if (name == "..")
                {
                    if (dirs.Count == 1)
                    {
                        throw new PathEscapeException("escapes the workspace");
                    }
                    Libc.close(dirs.Pop());
                    continue;
                }
                var last = pending.Count == 0;
                var probe = OpenAt(dirs.Peek(), name, Libc.O_PATH | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
                if (probe < 0)
                {
                    var errno = Libc.Errno;
                    if (last && errno == Libc.ENOENT && (flags & Libc.O_CREAT) != 0)
                    {
                        // O_NOFOLLOW: if someone races a symlink into this place we fail instead of following it.
                        return Checked(OpenAt(dirs.Peek(), name, flags | Libc.O_NOFOLLOW, mode), "open");
                    }
                    throw new ErrnoException(errno, "open");
                }
                var type = FileType(probe);
                if (type == Libc.S_IFLNK && (follow || !last))
                {
                    Libc.close(probe);
                    if (++links > MaxSymlinks)
                    {
                        throw new PathEscapeException("has too many levels of symbolic links");
                    }
                    var target = ReadLink(dirs.Peek(), name);
                    if (target.StartsWith('/'))
                    {
                        throw new PathEscapeException($"is a symbolic link to the absolute path \"{target}\"");
                    }
                    var parts = target.Split('/');
                    for (var i = parts.Length - 1; i >= 0; i--)
                    {
                        pending.AddFirst(parts[i]);
                    }
                    continue;
                }
                if (last)
                {
                    if ((flags & Libc.O_PATH) != 0 && (flags & Libc.O_DIRECTORY) == 0)
                    {
                        return probe;
                    }
                    Libc.close(probe);
                    return Checked(OpenAt(dirs.Peek(), name, flags | Libc.O_NOFOLLOW, mode), "open");
                }
                if (type != Libc.S_IFDIR)
                {
                    Libc.close(probe);
                    throw new ErrnoException(Libc.ENOTDIR, "open");
                }
                dirs.Push(probe);
            }
            // The path named a directory reached through "." or symlinks (or the root itself).
            return Checked(OpenAt(dirs.Peek(), ".", flags & ~Libc.O_NOFOLLOW, mode), "open");
        }
        finally
        {
            while (dirs.Count > 1)
            {
                Libc.close(dirs.Pop());
            }
        }
    }

    private static int OpenAt(int dirfd, string name, int flags, uint mode)
    {
        fixed (byte* p = Libc.Utf8z(name))
        {
            return Libc.openat(dirfd, p, flags, mode);
        }
    }

    private static int Checked(int fd, string syscall) => fd >= 0 ? fd : throw new ErrnoException(Libc.Errno, syscall);

    private static int FileType(int fd)
    {
        Libc.Statx st;
        fixed (byte* empty = Libc.Utf8z(""))
        {
            if (Libc.statx(fd, empty, Libc.AT_EMPTY_PATH | Libc.AT_SYMLINK_NOFOLLOW, Libc.STATX_BASIC_STATS, &st) != 0)
            {
                throw new ErrnoException(Libc.Errno, "statx");
            }
        }
        return st.Mode & Libc.S_IFMT;
    }

    private static string ReadLink(int dirfd, string name)
    {
        var buf = new byte[4096];
        nint n;
        fixed (byte* p = Libc.Utf8z(name))
        fixed (byte* b = buf)
        {
            n = Libc.readlinkat(dirfd, p, b, buf.Length);
        }
        if (n < 0)
        {
            throw new ErrnoException(Libc.Errno, "readlink");
        }
        return System.Text.Encoding.UTF8.GetString(buf, 0, (int)n);
    }

    public void Dispose() => Libc.close(RootFd);
}
