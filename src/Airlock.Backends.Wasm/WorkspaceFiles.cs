using Airlock.Core;
using Airlock.Core.Backends;
using Airlock.Guest.Files;
using Airlock.Guest.Protocol;
using Microsoft.Win32.SafeHandles;

namespace Airlock.Backends.Wasm;

/// <summary>Workspace file operations served from the host. The workspace is a host directory a module may have
/// filled with symlinks, so every path is resolved with openat2(RESOLVE_BENEATH) through the same code the in-sandbox
/// agent uses. Paths are relative to the workspace or absolute under its path inside the sandbox
/// (<paramref name="guestRoot"/>), exactly as for the other classes.</summary>
internal sealed class WorkspaceFiles(string hostRoot, string guestRoot, Action? check = null) : ISandboxFiles
{
    public async Task<long> ReadAsync(string path, Stream destination, CancellationToken ct)
    {
        await using var file = Open(path, "read", fs => fs.OpenRead(path), FileAccess.Read);
        await file.CopyToAsync(destination, ct).ConfigureAwait(false);
        return file.Length;
    }

    public async Task<long> WriteAsync(string path, Stream source, int mode, CancellationToken ct)
    {
        await using var file = Open(path, "write", fs => fs.OpenWrite(path, mode), FileAccess.Write);
        await source.CopyToAsync(file, ct).ConfigureAwait(false);
        await file.FlushAsync(ct).ConfigureAwait(false);
        return file.Length;
    }

    public Task<IReadOnlyList<FileEntry>> ListAsync(string path, CancellationToken ct) => Task.FromResult(With("list", path, fs => fs.List(path)));

    public Task DeleteAsync(string path, bool recursive, CancellationToken ct) => Task.FromResult(With("delete", path, fs =>
    {
        fs.Delete(path, recursive);
        return 0;
    }));

    public Task MkdirAsync(string path, bool parents, CancellationToken ct) => Task.FromResult(With("mkdir", path, fs =>
    {
        fs.Mkdir(path, parents, 0x1ED);
        return 0;
    }));

    /// <summary>Reads a whole workspace file (a module named by a workspace path).</summary>
    public byte[] ReadAll(string path)
    {
        using var file = Open(path, "read", fs => fs.OpenRead(path), FileAccess.Read);
        var bytes = new byte[file.Length];
        file.ReadExactly(bytes);
        return bytes;
    }

    private FileStream Open(string path, string op, Func<WorkspaceFs, int> open, FileAccess access)
    {
        var fd = With(op, path, open);
        return new FileStream(new SafeFileHandle(fd, ownsHandle: true), access);
    }

    private T With<T>(string op, string path, Func<WorkspaceFs, T> action)
    {
        check?.Invoke();
        BeneathResolver resolver;
        try
        {
            resolver = new BeneathResolver(hostRoot);
        }
        catch (ErrnoException e)
        {
            throw new AirlockException(AirlockException.ErrorCodes.File, $"{op} '{path}': the sandbox's workspace is gone (errno {e.Errno})");
        }
        try
        {
            // The resolver holds the host directory; the guest path only tells which absolute paths are inside.
            return action(new WorkspaceFs(guestRoot, resolver));
        }
        catch (FsException e)
        {
            throw new AirlockException(AirlockException.ErrorCodes.File, $"{op} '{path}': {e.Message} ({e.Code})",
                e.Code == ErrorCodes.PathEscape ? "use a path inside the workspace" : null);
        }
        finally
        {
            resolver.Dispose();
        }
    }
}
