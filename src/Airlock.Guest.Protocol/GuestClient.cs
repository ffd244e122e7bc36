using System.Net.Sockets;

namespace Airlock.Guest.Protocol;

/// <summary>The guest answered an operation with an <see cref="FrameType.Error"/> frame.</summary>
public sealed class GuestErrorException(ErrorInfo info) : Exception(info.Message)
{
    public ErrorInfo Info { get; } = info;

    /// <summary>One of <see cref="ErrorCodes"/>.</summary>
    public string Code => Info.Code;
}

/// <summary>
/// Host side of the guest protocol. Each call performs one operation on a fresh connection; the caller owns the
/// streams (for a socket pass the same stream twice) and closes them afterwards.
/// </summary>
public static class GuestClient
{
    private const int ChunkSize = 64 * 1024;
    private const int SigKill = 9;

    /// <summary>
    /// Runs one exec, forwarding its output as it arrives. <paramref name="stdin"/>, when given, is pumped as Stdin
    /// frames followed by StdinEnd (and decides <see cref="ExecRequest.Stdin"/>). Cancelling sends SIGKILL to the
    /// exec's process group (best effort) and throws; the guest also kills the exec when the connection closes.
    /// </summary>
    /// <exception cref="GuestErrorException">The guest refused or could not start the exec (e.g. spawn-failed).</exception>
    public static async Task<ExecResult> ExecAsync(
        Stream fromGuest,
        Stream toGuest,
        ExecRequest request,
        Stream? stdin,
        Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> onStdout,
        Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> onStderr,
        CancellationToken ct)
    {
        var reader = new FrameStream(fromGuest);
        var writer = new FrameStream(toGuest);
        await writer.WriteJsonAsync(FrameType.Exec, request with { Stdin = stdin is not null }, ct).ConfigureAwait(false);

        using var done = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var pump = stdin is null ? Task.CompletedTask : PumpStdinAsync(writer, stdin, done.Token);
        // Best effort: the guest kills the group when it sees the signal (or when the connection closes).
        using var onCancel = ct.Register(() => _ = SendQuietlyAsync(writer, FrameType.Signal, new SignalRequest(SigKill)));
        try
        {
            while (true)
            {
                var frame = await reader.ReadAsync(ct).ConfigureAwait(false)
                    ?? throw new ProtocolException("the guest closed the connection before the exec finished");
                switch (frame.Type)
                {
                    case FrameType.Stdout:
                        await onStdout(frame.Payload, ct).ConfigureAwait(false);
                        break;
                    case FrameType.Stderr:
                        await onStderr(frame.Payload, ct).ConfigureAwait(false);
                        break;
                    case FrameType.ExecExit:
                        return frame.Json<ExecResult>();
                    case FrameType.Error:
                        throw new GuestErrorException(frame.Json<ErrorInfo>());
                    default:
                        throw new ProtocolException($"unexpected {frame.Type} frame during an exec");
                }
            }
        }
        finally
        {
            done.Cancel();
            if (pump.IsCompleted)
            {
                await IgnoreFailureAsync(pump).ConfigureAwait(false);
            }
            else
            {
                // A blocking read of a pipe or terminal cannot be cancelled: once the exec has ended nothing waits for
                // the caller's stdin any more, so the pump is abandoned (its late failure is observed, not thrown).
                _ = pump.ContinueWith(t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
        }
    }

    public static async Task<FileResult> ReadFileAsync(Stream fromGuest, Stream toGuest, string path, Stream destination, CancellationToken ct)
    {
        var reader = new FrameStream(fromGuest);
        var writer = new FrameStream(toGuest);
        await writer.WriteJsonAsync(FrameType.File, new FileRequest(FileOp.Read, path), ct).ConfigureAwait(false);
        var ended = false;
        while (true)
        {
            var frame = await NextAsync(reader, ct).ConfigureAwait(false);
            switch (frame.Type)
            {
                case FrameType.Data when !ended:
                    await destination.WriteAsync(frame.Payload, ct).ConfigureAwait(false);
                    break;
                case FrameType.DataEnd when !ended:
                    ended = true;
                    break;
                case FrameType.FileResult:
                    return frame.Json<FileResult>();
                default:
                    throw new ProtocolException($"unexpected {frame.Type} frame while reading \"{path}\"");
            }
        }
    }

    /// <summary>
    /// Uploads <paramref name="source"/>. The guest may refuse the path before reading any content and close the
    /// connection, so the upload runs concurrently with waiting for the result, and a failed send is not fatal
    /// once the result has arrived.
    /// </summary>
    public static async Task<FileResult> WriteFileAsync(Stream fromGuest, Stream toGuest, string path, Stream source, int mode, CancellationToken ct)
    {
        var reader = new FrameStream(fromGuest);
        var writer = new FrameStream(toGuest);
        await writer.WriteJsonAsync(FrameType.File, new FileRequest(FileOp.Write, path, Mode: mode), ct).ConfigureAwait(false);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var upload = UploadAsync(writer, source, stop.Token);
        var result = ReadResultAsync(reader, path, stop.Token);
        try
        {
            if (await Task.WhenAny(upload, result).ConfigureAwait(false) == upload && upload.IsFaulted
                && upload.Exception!.InnerException is not IOException)
            {
                await upload.ConfigureAwait(false); // reading the source failed: the operation is lost
            }
            return await result.ConfigureAwait(false);
        }
        finally
        {
            stop.Cancel();
            await IgnoreFailureAsync(upload).ConfigureAwait(false);
            await IgnoreFailureAsync(result).ConfigureAwait(false);
        }
    }

    /// <summary>List, Delete, Mkdir or Stat.</summary>
    public static async Task<FileResult> FileOpAsync(Stream fromGuest, Stream toGuest, FileRequest request, CancellationToken ct)
    {
        if (request.Op is FileOp.Read or FileOp.Write)
        {
            throw new ArgumentException($"use {nameof(ReadFileAsync)} / {nameof(WriteFileAsync)} for {request.Op}", nameof(request));
        }
        var reader = new FrameStream(fromGuest);
        var writer = new FrameStream(toGuest);
        await writer.WriteJsonAsync(FrameType.File, request, ct).ConfigureAwait(false);
        return await ReadResultAsync(reader, request.Path, ct).ConfigureAwait(false);
    }

    public static async Task<GuestInfo> PingAsync(Stream fromGuest, Stream toGuest, CancellationToken ct)
    {
        var reader = new FrameStream(fromGuest);
        var writer = new FrameStream(toGuest);
        await writer.WriteAsync(FrameType.Ping, ReadOnlyMemory<byte>.Empty, ct).ConfigureAwait(false);
        var frame = await NextAsync(reader, ct).ConfigureAwait(false);
        return frame.Type == FrameType.Pong
            ? frame.Json<GuestInfo>()
            : throw new ProtocolException($"expected Pong, got {frame.Type}");
    }

    public static async Task<Socket> ConnectAsync(string socketPath, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Next frame; an Error frame becomes <see cref="GuestErrorException"/> and end of stream a protocol error.</summary>
    private static async Task<Frame> NextAsync(FrameStream reader, CancellationToken ct)
    {
        var frame = await reader.ReadAsync(ct).ConfigureAwait(false)
            ?? throw new ProtocolException("the guest closed the connection without an answer");
        return frame.Type == FrameType.Error ? throw new GuestErrorException(frame.Json<ErrorInfo>()) : frame;
    }

    private static async Task<FileResult> ReadResultAsync(FrameStream reader, string path, CancellationToken ct)
    {
        var frame = await NextAsync(reader, ct).ConfigureAwait(false);
        return frame.Type == FrameType.FileResult
            ? frame.Json<FileResult>()
            : throw new ProtocolException($"unexpected {frame.Type} frame for \"{path}\"");
    }

    private static async Task PumpStdinAsync(FrameStream writer, Stream stdin, CancellationToken ct)
    {
        await CopyAsFramesAsync(writer, stdin, FrameType.Stdin, ct).ConfigureAwait(false);
        await writer.WriteAsync(FrameType.StdinEnd, ReadOnlyMemory<byte>.Empty, ct).ConfigureAwait(false);
    }

    private static async Task UploadAsync(FrameStream writer, Stream source, CancellationToken ct)
    {
        await CopyAsFramesAsync(writer, source, FrameType.Data, ct).ConfigureAwait(false);
        await writer.WriteAsync(FrameType.DataEnd, ReadOnlyMemory<byte>.Empty, ct).ConfigureAwait(false);
    }

    private static async Task CopyAsFramesAsync(FrameStream writer, Stream source, FrameType type, CancellationToken ct)
    {
        var buffer = new byte[ChunkSize];
        int n;
        while ((n = await source.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            await writer.WriteAsync(type, buffer.AsMemory(0, n), ct).ConfigureAwait(false);
        }
    }

    private static async Task SendQuietlyAsync<T>(FrameStream writer, FrameType type, T value)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await writer.WriteJsonAsync(type, value, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Best effort: the connection may already be gone, which kills the exec too.
        }
    }

    private static async Task IgnoreFailureAsync(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Secondary failure after the operation's outcome was decided.
        }
    }
}
