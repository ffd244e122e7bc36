using System.Text.Json.Serialization;

namespace Airlock.Guest.Protocol;

/// <summary>Run one process inside the sandbox.</summary>
/// <param name="Argv">Program and arguments; the program is looked up in PATH from <see cref="Env"/>.</param>
/// <param name="Env">The complete environment as NAME=value; nothing is inherited from the guest.</param>
/// <param name="Cwd">Working directory inside the sandbox.</param>
/// <param name="TimeoutMs">Wall-clock limit; 0 means none. On expiry the process group is killed, reason <c>timeout</c>.</param>
/// <param name="OutputLimitBytes">Cap on stdout+stderr bytes; 0 means none. Past it the group is killed, reason <c>output-limit</c>.</param>
/// <param name="Stdin">Whether the host sends Stdin frames; otherwise stdin is /dev/null.</param>
public sealed record ExecRequest(
    IReadOnlyList<string> Argv,
    IReadOnlyList<string> Env,
    string Cwd,
    long TimeoutMs,
    long OutputLimitBytes,
    bool Stdin);

public sealed record SignalRequest(int Signal);

/// <summary>How an exec ended.</summary>
/// <param name="ExitCode">Exit status, or 128+signal when killed.</param>
/// <param name="Signal">Terminating signal number, or null when the process exited.</param>
/// <param name="KilledReason">Why Airlock killed it (<see cref="KillReasons"/>), or null.</param>
public sealed record ExecResult(
    int ExitCode,
    int? Signal,
    string? KilledReason,
    long DurationMs,
    long StdoutBytes,
    long StderrBytes,
    bool Truncated);

public static class KillReasons
{
    public const string Timeout = "timeout";
    public const string Memory = "memory";
    public const string OutputLimit = "output-limit";
    public const string Pids = "pids";
    public const string Signal = "signal";
    public const string SandboxGone = "sandbox-gone";
}

public enum FileOp
{
    Read,
    Write,
    List,
    Delete,
    Mkdir,
    Stat,
}

/// <summary>A file operation confined to the workspace. <see cref="Path"/> is relative to the workspace root,
/// or absolute under it; <c>..</c> and symlinks that leave the workspace are refused.</summary>
public sealed record FileRequest(FileOp Op, string Path, bool Recursive = false, int Mode = 0x1A4 /* 0644 */);

public sealed record FileEntry(string Name, string Type, long Size, int Mode, long ModifiedUnixMs);

/// <summary>Closing frame of a file operation: success with optional entries, or an error.</summary>
public sealed record FileResult(bool Ok, IReadOnlyList<FileEntry>? Entries = null, ErrorInfo? Error = null, long Bytes = 0);

public sealed record ErrorInfo(string Code, string Message);

public sealed record GuestInfo(int ProtocolVersion, int Pid, string Workspace);

/// <summary>Stable error codes for file operations and protocol failures.</summary>
public static class ErrorCodes
{
    public const string PathEscape = "path-escape";
    public const string InvalidPath = "invalid-path";
    public const string NotFound = "not-found";
    public const string Exists = "exists";
    public const string NotADirectory = "not-a-directory";
    public const string IsADirectory = "is-a-directory";
    public const string NotEmpty = "not-empty";
    public const string NoSpace = "no-space";
    public const string Permission = "permission-denied";
    public const string Protocol = "protocol";
    public const string SpawnFailed = "spawn-failed";
    public const string Io = "io";
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(ExecRequest))]
[JsonSerializable(typeof(SignalRequest))]
[JsonSerializable(typeof(ExecResult))]
[JsonSerializable(typeof(FileRequest))]
[JsonSerializable(typeof(FileResult))]
[JsonSerializable(typeof(ErrorInfo))]
[JsonSerializable(typeof(GuestInfo))]
public sealed partial class ProtocolJson : JsonSerializerContext;
