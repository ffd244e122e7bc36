using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Airlock.Guest.Protocol;

/// <summary>
/// Wire protocol between the host and <c>airlock-guest</c>. A connection (the control Unix socket, or the
/// container's stdio for an ephemeral run) carries one operation: the host sends a request frame, then data
/// frames where the operation takes input; the guest answers with data frames and exactly one closing frame.
/// Every frame is <c>u32 big-endian payload length | u8 version | u8 type | payload</c>.
/// </summary>
public static class Wire
{
    /// <summary>Protocol version; a peer that sees another version answers <see cref="FrameType.Error"/> and closes.</summary>
    public const byte Version = 1;

    /// <summary>Largest payload a peer accepts; anything larger is a protocol error (the peer is untrusted).</summary>
    public const int MaxPayload = 1 << 20;

    public const int HeaderSize = 6;

    /// <summary>Default path of the control socket inside the sandbox.</summary>
    public const string GuestSocketPath = "/.airlock/run/guest.sock";
}

public enum FrameType : byte
{
    /// <summary>host → guest: <see cref="ExecRequest"/> JSON.</summary>
    Exec = 1,
    /// <summary>host → guest: bytes for the process's stdin.</summary>
    Stdin = 2,
    /// <summary>host → guest: stdin is closed.</summary>
    StdinEnd = 3,
    /// <summary>host → guest: <see cref="SignalRequest"/> JSON, delivered to the running exec's process group.</summary>
    Signal = 4,
    /// <summary>guest → host: bytes the process wrote to stdout.</summary>
    Stdout = 10,
    /// <summary>guest → host: bytes the process wrote to stderr.</summary>
    Stderr = 11,
    /// <summary>guest → host: <see cref="ExecResult"/> JSON; closes an exec.</summary>
    ExecExit = 12,
    /// <summary>host → guest: <see cref="FileRequest"/> JSON.</summary>
    File = 20,
    /// <summary>either way: file content bytes (write: host → guest, read: guest → host).</summary>
    Data = 21,
    /// <summary>either way: end of file content.</summary>
    DataEnd = 22,
    /// <summary>guest → host: <see cref="FileResult"/> JSON; closes a file operation.</summary>
    FileResult = 23,
    /// <summary>host → guest: liveness probe; guest answers <see cref="Pong"/> with <see cref="GuestInfo"/> JSON.</summary>
    Ping = 30,
    Pong = 31,
    /// <summary>guest → host: <see cref="ErrorInfo"/> JSON; closes the operation.</summary>
    Error = 40,
}

public readonly record struct Frame(FrameType Type, ReadOnlyMemory<byte> Payload)
{
    public T Json<T>(JsonSerializerOptions? _ = null) where T : class =>
        (T)(JsonSerializer.Deserialize(Payload.Span, typeof(T), ProtocolJson.Default)
            ?? throw new ProtocolException($"frame {Type}: empty JSON payload"));
}

/// <summary>A peer broke the protocol (bad version, oversized or truncated frame, malformed JSON).</summary>
public sealed class ProtocolException(string message) : Exception(message);

/// <summary>Reads and writes frames on a stream. Not thread-safe for concurrent writers; callers serialize writes.</summary>
public sealed class FrameStream(Stream stream, int maxPayload = Wire.MaxPayload) : IAsyncDisposable
{
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly byte[] _header = new byte[Wire.HeaderSize];

    public Stream Inner => stream;

    public async ValueTask WriteAsync(FrameType type, ReadOnlyMemory<byte> payload, CancellationToken ct = default)
    {
        if (payload.Length > maxPayload)
        {
            // Split oversized data frames; JSON frames are never this large.
            for (var off = 0; off < payload.Length; off += maxPayload)
            {
                await WriteAsync(type, payload.Slice(off, Math.Min(maxPayload, payload.Length - off)), ct).ConfigureAwait(false);
            }
            return;
        }
        var buf = new byte[Wire.HeaderSize + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(buf, (uint)payload.Length);
        buf[4] = Wire.Version;
        buf[5] = (byte)type;
        payload.CopyTo(buf.AsMemory(Wire.HeaderSize));
        await _writeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await stream.WriteAsync(buf, ct).ConfigureAwait(false);
            await stream.FlushAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public ValueTask WriteJsonAsync<T>(FrameType type, T value, CancellationToken ct = default) =>
        WriteAsync(type, JsonSerializer.SerializeToUtf8Bytes(value, typeof(T), ProtocolJson.Default), ct);

    /// <summary>Reads one frame; returns null at a clean end of stream between frames.</summary>
    public async ValueTask<Frame?> ReadAsync(CancellationToken ct = default)
    {
        if (!await FillAsync(_header, allowEof: true, ct).ConfigureAwait(false))
        {
            return null;
        }
        var len = BinaryPrimitives.ReadUInt32BigEndian(_header);
        if (_header[4] != Wire.Version)
        {
            throw new ProtocolException($"unsupported protocol version {_header[4]} (expected {Wire.Version})");
        }
        if (len > (uint)maxPayload)
        {
            throw new ProtocolException($"frame of {len} bytes exceeds the {maxPayload}-byte limit");
        }
        var type = (FrameType)_header[5];
        var payload = len == 0 ? Array.Empty<byte>() : new byte[len];
        if (len > 0)
        {
            await FillAsync(payload, allowEof: false, ct).ConfigureAwait(false);
        }
        return new Frame(type, payload);
    }

    private async ValueTask<bool> FillAsync(byte[] buf, bool allowEof, CancellationToken ct)
    {
        var read = 0;
        while (read < buf.Length)
        {
            var n = await stream.ReadAsync(buf.AsMemory(read), ct).ConfigureAwait(false);
            if (n == 0)
            {
                if (read == 0 && allowEof)
                {
                    return false;
                }
                throw new ProtocolException("connection closed in the middle of a frame");
            }
            read += n;
        }
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        await stream.DisposeAsync().ConfigureAwait(false);
        _writeLock.Dispose();
    }
}
