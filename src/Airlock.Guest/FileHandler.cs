using Airlock.Guest.Files;
using Airlock.Guest.Native;
using Airlock.Guest.Protocol;

namespace Airlock.Guest;

/// <summary>Carries out one <see cref="FileRequest"/> over a connection.</summary>
internal static class FileHandler
{
    private const int ChunkSize = 64 * 1024;

    public static async Task RunAsync(Connection conn, FileRequest req, WorkspaceFs fs, CancellationToken ct)
    {
        FileResult result;
        try
        {
            result = req.Op switch
            {
                FileOp.Read => await ReadAsync(conn, fs, req.Path, ct).ConfigureAwait(false),
                FileOp.Write => await WriteAsync(conn, fs, req, ct).ConfigureAwait(false),
                FileOp.List => new FileResult(true, fs.List(req.Path)),
                FileOp.Stat => new FileResult(true, [fs.Stat(req.Path)]),
                FileOp.Mkdir => Done(() => fs.Mkdir(req.Path, req.Recursive, req.Mode)),
                FileOp.Delete => Done(() => fs.Delete(req.Path, req.Recursive)),
                _ => throw new ProtocolException($"unknown file operation {req.Op}"),
            };
        }
        catch (FsException e)
        {
            result = new FileResult(false, Error: new ErrorInfo(e.Code, e.Message));
        }
        await conn.Writer.WriteJsonAsync(FrameType.FileResult, result, ct).ConfigureAwait(false);
    }

    private static FileResult Done(Action op)
    {
        op();
        return new FileResult(true);
    }

    private static async Task<FileResult> ReadAsync(Connection conn, WorkspaceFs fs, string path, CancellationToken ct)
    {
        var fd = fs.OpenRead(path);
        try
        {
            var buffer = new byte[ChunkSize];
            long total = 0;
            while (true)
            {
                var n = ReadChunk(fd, buffer, path);
                if (n == 0)
                {
                    break;
                }
                total += n;
                await conn.Writer.WriteAsync(FrameType.Data, buffer.AsMemory(0, n), ct).ConfigureAwait(false);
            }
            await conn.Writer.WriteAsync(FrameType.DataEnd, ReadOnlyMemory<byte>.Empty, ct).ConfigureAwait(false);
            return new FileResult(true, Bytes: total);
        }
        finally
        {
            Libc.close(fd);
        }
    }

    /// <summary>Opens the target before reading any content, so a refused path is answered at once.</summary>
    private static async Task<FileResult> WriteAsync(Connection conn, WorkspaceFs fs, FileRequest req, CancellationToken ct)
    {
        var fd = fs.OpenWrite(req.Path, req.Mode);
        try
        {
            long total = 0;
            while (true)
            {
                var frame = await conn.Reader.ReadAsync(ct).ConfigureAwait(false)
                    ?? throw new ProtocolException("connection closed before DataEnd");
                if (frame.Type == FrameType.DataEnd)
                {
                    return new FileResult(true, Bytes: total);
                }
                if (frame.Type != FrameType.Data)
                {
                    throw new ProtocolException($"unexpected {frame.Type} frame during a file write");
                }
                WriteAll(fd, frame.Payload.Span, req.Path);
                total += frame.Payload.Length;
            }
        }
        finally
        {
            Libc.close(fd);
        }
    }

    private static unsafe int ReadChunk(int fd, byte[] buffer, string path)
    {
        while (true)
        {
            nint n;
            fixed (byte* b = buffer)
            {
                n = Libc.read(fd, b, buffer.Length);
            }
            if (n >= 0)
            {
                return (int)n;
            }
            if (Libc.Errno != Libc.EINTR)
            {
                throw new FsException(ErrorCodes.Io, $"cannot read \"{path}\": {Libc.StrError(Libc.Errno)}");
            }
        }
    }

    private static unsafe void WriteAll(int fd, ReadOnlySpan<byte> data, string path)
    {
        fixed (byte* start = data)
        {
            var off = 0;
            while (off < data.Length)
            {
                var n = Libc.write(fd, start + off, data.Length - off);
                if (n < 0)
                {
                    var errno = Libc.Errno;
                    if (errno == Libc.EINTR)
                    {
                        continue;
                    }
                    var code = errno is Libc.ENOSPC or Libc.EDQUOT ? ErrorCodes.NoSpace : ErrorCodes.Io;
                    throw new FsException(code, $"cannot write \"{path}\": {Libc.StrError(errno)}");
                }
                off += (int)n;
            }
        }
    }
}
