using Airlock.Core.Model;
using Airlock.Guest.Protocol;

namespace Airlock.Core.Backends;

/// <summary>
/// One isolation class (oci, microvm, wasm, v8). A backend turns a validated template into a running sandbox,
/// runs processes in it, serves its workspace files and tears it down leaving nothing behind.
/// </summary>
public interface IIsolationBackend
{
    /// <summary>The class this backend serves, e.g. <c>oci</c>.</summary>
    string IsolationClass { get; }

    /// <summary>Reports, through <paramref name="addError"/> (field, reason), every template field this backend
    /// cannot enforce on this host. Called by <see cref="Validation.TemplateValidator"/>.</summary>
    void CheckEnforceable(SandboxTemplate template, Action<string, string> addError);

    /// <summary>Starts a sandbox that lives until <see cref="DestroyAsync"/>; returns once it accepts execs.</summary>
    Task<SandboxRecord> CreateAsync(SandboxTemplate template, CancellationToken ct);

    /// <summary>Runs one process in a running sandbox, streaming its output to <paramref name="io"/>.</summary>
    Task<ExecResult> ExecAsync(SandboxRecord sandbox, ExecSpec spec, ExecIo io, CancellationToken ct);

    /// <summary>File operations confined to the sandbox's workspace.</summary>
    ISandboxFiles Files(SandboxRecord sandbox);

    /// <summary>Stops every process and removes every mount, cgroup, socket and directory of the sandbox.
    /// Idempotent: destroying a half-created or already destroyed sandbox succeeds.</summary>
    Task DestroyAsync(SandboxRecord sandbox, CancellationToken ct);

    /// <summary>Whether the sandbox is running, suspended, stopped or gone.</summary>
    Task<SandboxState> StatusAsync(SandboxRecord sandbox, CancellationToken ct);

    /// <summary>Freezes every process of the sandbox, keeping its memory, processes and workspace; execs and file
    /// operations are refused until <see cref="ResumeAsync"/>.</summary>
    Task SuspendAsync(SandboxRecord sandbox, CancellationToken ct);

    /// <summary>Thaws a suspended sandbox.</summary>
    Task ResumeAsync(SandboxRecord sandbox, CancellationToken ct);

    /// <summary>Runs one command in a fresh ephemeral sandbox and destroys it; the result names the sandbox.</summary>
    Task<RunResult> RunAsync(SandboxTemplate template, ExecSpec spec, ExecIo io, CancellationToken ct);
}

/// <summary>A backend that can find and destroy what a killed owner (CLI or daemon) left behind.</summary>
public interface IReapingBackend
{
    /// <summary>Destroys sandboxes whose owner died, persistent ones with no process left, half-created ones, and
    /// host resources no sandbox owns. Returns the ids reaped.</summary>
    Task<IReadOnlyList<string>> ReapOrphansAsync(CancellationToken ct);
}

/// <summary>A backend whose sandboxes depend on something in the owning process (the egress proxy) that a new owner
/// must restart when it adopts them.</summary>
public interface IReattachingBackend
{
    void Reattach(SandboxRecord sandbox);
}

/// <summary>File operations on a sandbox's workspace. Paths are relative to the workspace (or absolute under it);
/// <c>..</c>, absolute paths elsewhere and symlinks that resolve outside fail with an <see cref="AirlockException"/>
/// of code <c>file</c>.</summary>
public interface ISandboxFiles
{
    Task<long> ReadAsync(string path, Stream destination, CancellationToken ct);
    Task<long> WriteAsync(string path, Stream source, int mode, CancellationToken ct);
    Task<IReadOnlyList<FileEntry>> ListAsync(string path, CancellationToken ct);
    Task DeleteAsync(string path, bool recursive, CancellationToken ct);
    Task MkdirAsync(string path, bool parents, CancellationToken ct);
}

/// <summary>What to run. Limits left null take the template's.</summary>
/// <param name="Argv">Program and arguments.</param>
/// <param name="Env">Extra environment on top of the template's; nothing comes from the host.</param>
/// <param name="Cwd">Working directory; the workspace when null.</param>
public sealed record ExecSpec(
    IReadOnlyList<string> Argv,
    IReadOnlyDictionary<string, string>? Env = null,
    string? Cwd = null,
    TimeSpan? Timeout = null,
    long? OutputLimit = null);

/// <summary>Where an exec's streams go. Callbacks are invoked in order, never concurrently for one stream.</summary>
public sealed record ExecIo(
    Stream? Stdin,
    Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> Stdout,
    Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> Stderr)
{
    private static readonly Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> Discard = (_, _) => ValueTask.CompletedTask;

    public static ExecIo Null { get; } = new(null, Discard, Discard);

    /// <summary>Collects output in memory (tests, <c>--json</c>).</summary>
    public static ExecIo Capture(MemoryStream stdout, MemoryStream stderr, Stream? stdin = null) => new(
        stdin,
        (b, _) => { stdout.Write(b.Span); return ValueTask.CompletedTask; },
        (b, _) => { stderr.Write(b.Span); return ValueTask.CompletedTask; });
}

public sealed record RunResult(string SandboxId, ExecResult Result);

public enum SandboxState
{
    Creating,
    Running,
    Suspended,
    Stopped,
    Gone,
}
