using Airlock.Guest.Native;
using Airlock.Guest.Protocol;

namespace Airlock.Guest.Files;

/// <summary>
/// File operations confined to the workspace. Every path is opened through <see cref="BeneathResolver"/>;
/// operations on a name (mkdir, delete) resolve its parent that way and then act on the last component
/// with *at() calls, which never follow a symlink in that last component.
/// </summary>
internal sealed unsafe class WorkspaceFs(string root, BeneathResolver resolver)
{
    public string Root => root;

    public static WorkspaceFs Open(string root, bool forceFallback = false) => new(root, new BeneathResolver(root, forceFallback));

    /// <summary>Opens a regular file for reading; the caller owns (and closes) the fd.</summary>
    public int OpenRead(string path)
    {
        var parts = WorkspacePath.Parse(root, path);
        return Guard("cannot read", path, () =>
        {
            var fd = resolver.Open(parts, Libc.O_RDONLY | Libc.O_NONBLOCK);
            RequireRegular(fd, path);
            return fd;
        });
    }

    /// <summary>Creates or truncates a regular file with exactly <paramref name="mode"/>; the caller owns the fd.</summary>
    public int OpenWrite(string path, int mode)
    {
        var parts = WorkspacePath.Parse(root, path);
        if (parts.Length == 0)
        {
            throw new FsException(ErrorCodes.IsADirectory, $"cannot write \"{path}\": it is the workspace root");
        }
        return Guard("cannot write", path, () =>
        {
            var fd = resolver.Open(parts, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_TRUNC | Libc.O_NONBLOCK, (uint)mode & 0xFFF);
            RequireRegular(fd, path);
            // O_CREAT's mode is filtered by umask and ignored for existing files; the request names the final mode.
            Libc.fchmod(fd, (uint)mode & 0xFFF);
            return fd;
        });
    }

    public IReadOnlyList<FileEntry> List(string path)
    {
        var parts = WorkspacePath.Parse(root, path);
        return Guard("cannot list", path, () =>
        {
            var fd = resolver.Open(parts, Libc.O_RDONLY | Libc.O_DIRECTORY);
            try
            {
                return Directories.ReadNames(fd)
                    .Select(name => Entry(fd, name, name))
                    .OrderBy(e => e.Name, StringComparer.Ordinal)
                    .ToList();
            }
            finally
            {
                Libc.close(fd);
            }
        });
    }

    /// <summary>Describes the path itself: a symlink is reported as a symlink, as in a listing.</summary>
    public FileEntry Stat(string path)
    {
        var parts = WorkspacePath.Parse(root, path);
        return Guard("cannot stat", path, () =>
        {
            var fd = resolver.Open(parts, Libc.O_PATH | Libc.O_NOFOLLOW);
            try
            {
                return Entry(fd, "", parts.Length == 0 ? "." : parts[^1]);
            }
            finally
            {
                Libc.close(fd);
            }
        });
    }

    public void Mkdir(string path, bool recursive, int mode)
    {
        var parts = WorkspacePath.Parse(root, path);
        // Directories get search permission wherever they have read permission: the default file mode 0644
        // becomes 0755.
        var dirMode = (uint)(mode | ((mode & 0x124) >> 2)) & 0xFFF;
        Guard("cannot create directory", path, () =>
        {
            if (parts.Length == 0)
            {
                return recursive ? 0 : throw new ErrnoException(Libc.EEXIST, "mkdir");
            }
            for (var i = recursive ? 1 : parts.Length; i <= parts.Length; i++)
            {
                var parent = resolver.Open(parts[..(i - 1)], Libc.O_PATH | Libc.O_DIRECTORY);
                try
                {
                    if (Directories.MkdirAt(parent, parts[i - 1], dirMode) is var err and not 0 && !(recursive && err == Libc.EEXIST))
                    {
                        throw new ErrnoException(err, "mkdir");
                    }
                }
                finally
                {
                    Libc.close(parent);
                }
            }
            if (recursive)
            {
                // An existing component may be a file or a symlink: make sure the whole path is a directory.
                Libc.close(resolver.Open(parts, Libc.O_PATH | Libc.O_DIRECTORY));
            }
            return 0;
        });
    }

    public void Delete(string path, bool recursive)
    {
        var parts = WorkspacePath.Parse(root, path);
        if (parts.Length == 0)
        {
            throw new FsException(ErrorCodes.InvalidPath, $"cannot delete \"{path}\": it is the workspace root");
        }
        Guard("cannot delete", path, () =>
        {
            var parent = resolver.Open(parts[..^1], Libc.O_PATH | Libc.O_DIRECTORY);
            try
            {
                Directories.Remove(parent, parts[^1], recursive);
            }
            finally
            {
                Libc.close(parent);
            }
            return 0;
        });
    }

    private static FileEntry Entry(int dirfd, string name, string displayName)
    {
        var st = Directories.Stat(dirfd, name);
        var type = (st.Mode & Libc.S_IFMT) switch
        {
            Libc.S_IFREG => "file",
            Libc.S_IFDIR => "dir",
            Libc.S_IFLNK => "symlink",
            _ => "other",
        };
        var mtimeMs = st.MtimeSec * 1000 + st.MtimeNsec / 1_000_000;
        return new FileEntry(displayName, type, (long)st.Size, st.Mode & 0xFFF, mtimeMs);
    }

    private static void RequireRegular(int fd, string path)
    {
        var kind = Directories.Stat(fd, "").Mode & Libc.S_IFMT;
        if (kind == Libc.S_IFREG)
        {
            return;
        }
        Libc.close(fd);
        throw kind == Libc.S_IFDIR
            ? new ErrnoException(Libc.EISDIR, "open")
            : new FsException(ErrorCodes.Io, $"\"{path}\" is not a regular file");
    }

    /// <summary>Turns resolver and syscall failures into protocol error codes with messages naming the path.</summary>
    private static T Guard<T>(string verb, string path, Func<T> op)
    {
        try
        {
            return op();
        }
        catch (PathEscapeException e)
        {
            throw new FsException(ErrorCodes.PathEscape, $"path \"{path}\" {e.Message}");
        }
        catch (ErrnoException e)
        {
            var code = e.Errno switch
            {
                Libc.ENOENT => ErrorCodes.NotFound,
                Libc.EEXIST => ErrorCodes.Exists,
                Libc.ENOTDIR => ErrorCodes.NotADirectory,
                Libc.EISDIR => ErrorCodes.IsADirectory,
                Libc.ENOTEMPTY => ErrorCodes.NotEmpty,
                Libc.ENOSPC or Libc.EDQUOT => ErrorCodes.NoSpace,
                Libc.EACCES or Libc.EPERM => ErrorCodes.Permission,
                Libc.EXDEV or Libc.ELOOP => ErrorCodes.PathEscape,
                Libc.EINVAL or Libc.ENAMETOOLONG => ErrorCodes.InvalidPath,
                _ => ErrorCodes.Io,
            };
            var reason = e.Errno switch
            {
                Libc.EXDEV or Libc.ELOOP => "escapes the workspace",
                Libc.ENOTEMPTY => "directory not empty (use recursive)",
                _ => Libc.StrError(e.Errno),
            };
            throw new FsException(code, $"{verb} \"{path}\": {reason}");
        }
    }
}
