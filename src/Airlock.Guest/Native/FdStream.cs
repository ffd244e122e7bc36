namespace Airlock.Guest.Native;

/// <summary>
/// A stream over an inherited fd (0, 1, 2) using plain read/write. FileStream would use pread/pwrite on a
/// seekable fd (stdout redirected to a log file), which does not advance the offset shared with other
/// processes writing to the same file, so their output and ours would overwrite each other.
/// </summary>
internal sealed unsafe class FdStream(int fd, bool canRead) : Stream
{
    public override bool CanRead => canRead;
    public override bool CanWrite => !canRead;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            while (true)
            {
                var n = Libc.read(fd, p, buffer.Length);
                if (n >= 0)
                {
                    return (int)n;
                }
                if (Libc.Errno != Libc.EINTR)
                {
                    throw new IOException($"read fd {fd}: {Libc.StrError(Libc.Errno)}");
                }
            }
        }
    }

    /// <summary>Blocking reads run on the thread pool: there is one such stream per process (stdio mode).</summary>
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) =>
        new(Task.Run(() => Read(buffer.Span), ct));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            var off = 0;
            while (off < buffer.Length)
            {
                var n = Libc.write(fd, p + off, buffer.Length - off);
                if (n < 0)
                {
                    if (Libc.Errno == Libc.EINTR)
                    {
                        continue;
                    }
                    throw new IOException($"write fd {fd}: {Libc.StrError(Libc.Errno)}");
                }
                off += (int)n;
            }
        }
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
    {
        Write(buffer.Span); // pipes to the host drain quickly; a blocking write is the backpressure we want
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken ct) => Task.CompletedTask;

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
