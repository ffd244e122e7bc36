namespace Airlock.Guest.Files;

/// <summary>A failed syscall during path resolution or a file operation.</summary>
internal sealed class ErrnoException(int errno, string syscall) : Exception($"{syscall}: errno {errno}")
{
    public int Errno { get; } = errno;
    public string Syscall { get; } = syscall;
}

/// <summary>Resolution would leave the workspace (through <c>..</c>, an absolute path or a symlink).</summary>
internal sealed class PathEscapeException(string reason) : Exception(reason);

/// <summary>A file operation failed with a protocol error code and a message that names the path.</summary>
internal sealed class FsException(string code, string message) : Exception(message)
{
    public string Code { get; } = code;
}
