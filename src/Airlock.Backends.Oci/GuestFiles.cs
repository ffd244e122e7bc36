using System.Net.Sockets;
using Airlock.Core;
using Airlock.Core.Backends;
using Airlock.Guest.Protocol;

namespace Airlock.Backends.Oci;

/// <summary>Workspace file operations served by the guest, which confines them with openat2(RESOLVE_BENEATH)
/// inside the sandbox's own mount namespace, so a symlink the sandbox planted cannot point the host anywhere.</summary>
internal sealed class GuestFiles(OciBackend backend, SandboxRecord sandbox) : ISandboxFiles
{
    public async Task<long> ReadAsync(string path, Stream destination, CancellationToken ct)
    {
        var r = await WithConnection((s, c) => GuestClient.ReadFileAsync(s, s, path, destination, c), ct).ConfigureAwait(false);
        return Check(r, "read", path).Bytes;
    }

    public async Task<long> WriteAsync(string path, Stream source, int mode, CancellationToken ct)
    {
        var r = await WithConnection((s, c) => GuestClient.WriteFileAsync(s, s, path, source, mode, c), ct).ConfigureAwait(false);
        return Check(r, "write", path).Bytes;
    }

    public async Task<IReadOnlyList<FileEntry>> ListAsync(string path, CancellationToken ct)
    {
        var r = await Op(new FileRequest(FileOp.List, path), ct).ConfigureAwait(false);
        return Check(r, "list", path).Entries ?? [];
    }

    public async Task DeleteAsync(string path, bool recursive, CancellationToken ct) =>
        Check(await Op(new FileRequest(FileOp.Delete, path, recursive), ct).ConfigureAwait(false), "delete", path);

    public async Task MkdirAsync(string path, bool parents, CancellationToken ct) =>
        Check(await Op(new FileRequest(FileOp.Mkdir, path, parents, 0x1ED), ct).ConfigureAwait(false), "mkdir", path);

    private Task<FileResult> Op(FileRequest request, CancellationToken ct) =>
        WithConnection((s, c) => GuestClient.FileOpAsync(s, s, request, c), ct);

    private async Task<FileResult> WithConnection(Func<NetworkStream, CancellationToken, Task<FileResult>> op, CancellationToken ct)
    {
        using var socket = await backend.ConnectAsync(sandbox, ct).ConfigureAwait(false);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        try
        {
            return await op(stream, ct).ConfigureAwait(false);
        }
        catch (GuestErrorException e)
        {
            return new FileResult(false, Error: new ErrorInfo(e.Code, e.Message));
        }
    }

    private static FileResult Check(FileResult r, string op, string path)
    {
        if (r.Ok)
        {
            return r;
        }
        var error = r.Error ?? new ErrorInfo("io", "unknown error");
        throw new AirlockException(AirlockException.ErrorCodes.File, $"{op} '{path}': {error.Message} ({error.Code})",
            error.Code == Guest.Protocol.ErrorCodes.PathEscape ? "use a path inside the workspace" : null);
    }
}
