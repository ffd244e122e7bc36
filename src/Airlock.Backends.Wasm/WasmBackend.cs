using System.Collections.Concurrent;
using System.Text;
using Airlock.Backends.Oci;
using Airlock.Backends.Oci.Native;
using Airlock.Backends.Wasm.Engine;
using Airlock.Core;
using Airlock.Core.Backends;
using Airlock.Core.Model;
using Airlock.Core.Storage;
using Airlock.Core.Util;
using Airlock.Guest.Protocol;
using Wasmtime;

namespace Airlock.Backends.Wasm;

/// <summary>
/// The <c>wasm</c> isolation class: WASI preview-1 command modules run in-process by Wasmtime, deny by default. A
/// module sees its arguments, the template's environment (plus the exec's), captured stdout/stderr, an optional stdin,
/// and at most one preopened directory: the sandbox's workspace, a size-capped tmpfs on the host
/// (the template's <c>workspace.access</c>; a granted workspace is a tmpfs of <c>workspace.size</c> mounted per sandbox, root only, about a millisecond per ephemeral run). No sockets, no other host path, no ambient environment. CPU is bounded by fuel
/// and wall time by an epoch deadline (the timeout), memory by store limits (<c>resources.memory</c>), output by the
/// output cap. Each exec is a fresh instance in a fresh store; compiled modules are cached in memory and on disk.
/// </summary>
/// <remarks>
/// <c>ExecSpec.Argv[0]</c> names the module: a path inside the workspace (relative, or absolute under
/// <c>workspace.path</c>) or an absolute host path readable by this process. Execs run on the calling thread's
/// behalf on a thread-pool thread; at most <see cref="WasmOptions.MaxConcurrentExecutions"/> run at once, the rest wait.
/// A sandbox lives in this process's memory only as far as its running execs go: between execs it is its workspace
/// directory and record under <c>$AIRLOCK_HOME/wasm/sandboxes</c>, so any process may exec in it.
/// </remarks>
public sealed class WasmBackend : IIsolationBackend, IReapingBackend, IDisposable
{
    /// <summary>The one runtime of the class, for <c>isolation.runtime</c>.</summary>
    public const string Runtime = "wasmtime";

    private const long MaxStdinBytes = 64L << 20;
    private static readonly long OwnStartTicks = ProcessIdentity.StartTicks(Environment.ProcessId);
    private readonly WasmOptions _options;
    private readonly SandboxStore _store;
    private readonly InProcessClass _class;
    private readonly WasmEngine _engine;
    private readonly ModuleCache _cache;
    private readonly SemaphoreSlim _slots;
    private readonly ConcurrentDictionary<string, LiveSandbox> _live = new(StringComparer.Ordinal);

    /// <summary>Creates the engine (pool sized by <paramref name="options"/>) and the state directory
    /// <c>&lt;root&gt;/wasm</c>.</summary>
    public WasmBackend(AirlockPaths paths, WasmOptions? options = null)
    {
        _options = options ?? new WasmOptions();
        var root = Path.Combine(paths.Root, "wasm");
        _store = new SandboxStore(new AirlockPaths(root));
        _class = new InProcessClass(IsolationClasses.Wasm, Runtime, _store);
        _engine = new WasmEngine(_options);
        _cache = new ModuleCache(_engine, _options.CacheDirectory ?? Path.Combine(root, "cache"));
        _slots = new SemaphoreSlim(_options.MaxConcurrentExecutions, _options.MaxConcurrentExecutions);
    }

    /// <inheritdoc/>
    public string IsolationClass => IsolationClasses.Wasm;

    /// <summary>Counters of the compiled-module cache.</summary>
    public ModuleCacheStats CacheStats => _cache.Stats;

    /// <summary>Hash of the engine settings and Wasmtime version: the second half of every cache file name.</summary>
    public string EngineSettingsKey => _engine.SettingsKey;

    /// <summary>The engine settings that make up <see cref="EngineSettingsKey"/>, for <c>airlock doctor</c>.</summary>
    public IReadOnlyList<(string Name, string Value)> EngineSettings => _engine.Settings;

    /// <summary>Directory of precompiled modules.</summary>
    public string CacheDirectory => _cache.Directory;

    /// <summary>Reports every template field the wasm class cannot enforce. Enforced: workspace (path, size),
    /// resources.memory/timeout/outputLimit, env. Vacuous and accepted: resources.pids and resources.disk (a module
    /// can start no process or thread and has no /tmp). Refused unless left at their defaults: isolation.runtime
    /// (<c>wasmtime</c>; the model's default <c>crun</c> counts as unset), isolation.userNamespace <c>required</c>,
    /// rootFs.hostPaths and rootFs.hostname (a module sees no host path and has no hostname), resources.openFiles
    /// (Wasmtime offers no descriptor limit; the default is accepted but not enforced), resources.cpus below 1 (a
    /// module runs on one thread; a fractional quota cannot be applied), network.mode other than <c>none</c>.</summary>
    public void CheckEnforceable(SandboxTemplate template, Action<string, string> addError)
    {
        var t = template;
        _class.CheckNoHostLayout(t, addError);
        if (t.Resources.OpenFiles != new ResourceSpec().OpenFiles)
        {
            addError("resources.openFiles", "Wasmtime offers no limit on a module's open descriptors; leave openFiles at its default");
        }
        if (Quantity.TryParseBytes(t.Resources.Memory, out var memory) && memory > _options.MaxMemoryBytes)
        {
            addError("resources.memory", $"above the wasm class's largest linear memory ({Quantity.FormatBytes(_options.MaxMemoryBytes)})");
        }
        if (Access(t) != WorkspaceAccess.None && !Environment.IsPrivilegedProcess)
        {
            addError("workspace.size", "the wasm workspace is a size-capped tmpfs, which only root can mount");
        }
        if (!t.Workspace.Path.StartsWith('/'))
        {
            addError("workspace.path", "must be an absolute path");
        }
    }

    // ---------------------------------------------------------------- lifecycle

    /// <inheritdoc/>
    public Task<SandboxRecord> CreateAsync(SandboxTemplate template, CancellationToken ct)
    {
        var record = NewRecord(template, ephemeral: false) with { OwnerPid = 0, OwnerStartTicks = 0 };
        try
        {
            Prepare(record);
            return Task.FromResult(record);
        }
        catch
        {
            Cleanup(record.Id);
            throw;
        }
    }

    /// <inheritdoc/>
    public async Task<ExecResult> ExecAsync(SandboxRecord sandbox, ExecSpec spec, ExecIo io, CancellationToken ct) =>
        (await ExecDetailedAsync(sandbox, spec, io, ct).ConfigureAwait(false)).Result;

    /// <summary>Runs one module in a sandbox and reports, besides the common result, the trap and memory size.</summary>
    public Task<WasmExecResult> ExecDetailedAsync(SandboxRecord sandbox, ExecSpec spec, ExecIo io, CancellationToken ct)
    {
        _class.RequireRunning(sandbox.Id);
        return ExecCoreAsync(sandbox, spec, io, ct);
    }

    /// <inheritdoc/>
    public ISandboxFiles Files(SandboxRecord sandbox)
    {
        if (Access(sandbox.Template) == WorkspaceAccess.None)
        {
            throw new AirlockException(AirlockException.ErrorCodes.File, $"sandbox {sandbox.Id} has no workspace",
                "grant one with the template's workspace.access (read-only or read-write)");
        }
        return new WorkspaceFiles(WorkspaceDir(sandbox.Id), sandbox.Template.Workspace.Path, () =>
        {
            if (_class.IsSuspended(sandbox.Id))
            {
                throw InProcessClass.Suspended(sandbox.Id);
            }
        });
    }

    /// <inheritdoc/>
    public Task DestroyAsync(SandboxRecord sandbox, CancellationToken ct)
    {
        if (_live.TryGetValue(sandbox.Id, out var live))
        {
            live.KillAll(KillReasons.SandboxGone);
        }
        Cleanup(sandbox.Id);
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task<SandboxState> StatusAsync(SandboxRecord sandbox, CancellationToken ct) => Task.FromResult(_class.Status(sandbox.Id));

    /// <summary>Refuses new execs and file operations, and holds running execs at their next epoch check.</summary>
    public Task SuspendAsync(SandboxRecord sandbox, CancellationToken ct)
    {
        _class.SetSuspended(sandbox.Id, true);
        Live(sandbox.Id).Gate.Pause();
        _engine.Engine.IncrementEpoch();
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task ResumeAsync(SandboxRecord sandbox, CancellationToken ct)
    {
        _class.SetSuspended(sandbox.Id, false);
        Live(sandbox.Id).Gate.Resume();
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public async Task<RunResult> RunAsync(SandboxTemplate template, ExecSpec spec, ExecIo io, CancellationToken ct)
    {
        var (id, result) = await RunDetailedAsync(template, spec, io, ct).ConfigureAwait(false);
        return new RunResult(id, result.Result);
    }

    /// <summary>Runs one module in a fresh ephemeral sandbox and destroys it; returns the sandbox id and the detailed
    /// result. Without a workspace grant nothing is written to disk.</summary>
    public async Task<(string SandboxId, WasmExecResult Result)> RunDetailedAsync(SandboxTemplate template, ExecSpec spec, ExecIo io, CancellationToken ct)
    {
        var record = NewRecord(template, ephemeral: true);
        var hasWorkspace = Access(template) != WorkspaceAccess.None;
        try
        {
            if (hasWorkspace)
            {
                Prepare(record);
            }
            var result = await ExecCoreAsync(record, spec, io, ct).ConfigureAwait(false);
            return (record.Id, result);
        }
        finally
        {
            _live.TryRemove(record.Id, out _);
            if (hasWorkspace)
            {
                Cleanup(record.Id);
            }
        }
    }

    /// <summary>Destroys ephemeral sandboxes whose owner process died and directories left half-created; persistent
    /// sandboxes are kept (they hold no process, only their workspace). Returns the ids reaped.</summary>
    public Task<IReadOnlyList<string>> ReapOrphansAsync(CancellationToken ct)
    {
        var reaped = new List<string>();
        foreach (var id in _store.ListIds())
        {
            var record = _store.TryGet(id);
            var dead = record is null
                ? Directory.GetCreationTimeUtc(_store.Paths.Sandbox(id)) < DateTime.UtcNow.AddSeconds(-30)
                : record.OwnerPid != 0 && !ProcessIdentity.IsAlive(record.OwnerPid, record.OwnerStartTicks);
            if (dead)
            {
                Cleanup(id);
                reaped.Add(id);
            }
        }
        return Task.FromResult<IReadOnlyList<string>>(reaped);
    }

    /// <summary>Releases the engine. Execs still running keep their own references.</summary>
    public void Dispose()
    {
        _engine.Dispose();
        _slots.Dispose();
    }

    // ---------------------------------------------------------------- execution

    private async Task<WasmExecResult> ExecCoreAsync(SandboxRecord sandbox, ExecSpec spec, ExecIo io, CancellationToken ct)
    {
        var t = sandbox.Template;
        if (spec.Argv.Count == 0 || string.IsNullOrEmpty(spec.Argv[0]))
        {
            throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, "argv is empty: argv[0] must name the .wasm module");
        }
        if (spec.Cwd is not null && spec.Cwd.TrimEnd('/') != t.Workspace.Path.TrimEnd('/'))
        {
            throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument,
                $"cwd '{spec.Cwd}': a WASI preview-1 module has no working directory but the workspace ({t.Workspace.Path})");
        }
        var module = LoadModule(sandbox, spec.Argv[0]);
        var timeout = spec.Timeout ?? Quantity.ParseDuration(t.Resources.Timeout);
        var env = new Dictionary<string, string>(t.Env, StringComparer.Ordinal);
        foreach (var (k, v) in spec.Env ?? new Dictionary<string, string>())
        {
            env[k] = v;
        }
        var hasWorkspace = Access(t) != WorkspaceAccess.None;
        string? stdinFile = null;
        try
        {
            if (io.Stdin is not null)
            {
                stdinFile = await SpoolStdinAsync(io.Stdin, ct).ConfigureAwait(false);
            }
            var plan = new ExecPlan(
                spec.Argv,
                env.Select(kv => (kv.Key, kv.Value)).ToList(),
                hasWorkspace ? WorkspaceDir(sandbox.Id) : null,
                t.Workspace.Path,
                Access(t) == WorkspaceAccess.ReadWrite,
                stdinFile,
                Quantity.ParseBytes(t.Resources.Memory),
                _options.Fuel ?? (long)Math.Min(long.MaxValue / 2, _options.FuelPerSecond * Math.Max(timeout.TotalSeconds, 0.001)),
                _options.MaxTableElements);
            var outputLimit = spec.OutputLimit ?? Quantity.ParseBytes(t.Resources.OutputLimit);
            var live = Live(sandbox.Id);
            var exec = new ExecContext(_engine.Engine, io, outputLimit, ct, live.Gate);
            await _slots.WaitAsync(ct).ConfigureAwait(false);
            WasmExecResult result;
            try
            {
                live.Add(exec);
                using var timer = new Timer(static s => ((ExecContext)s!).Kill(KillReasons.Timeout), exec, timeout, Timeout.InfiniteTimeSpan);
                using var cancel = ct.Register(static s => ((ExecContext)s!).Kill(KillReasons.Signal), exec);
                // A thread-pool thread, not the caller's: a module may compute for the whole timeout.
                result = await Task.Run(() => WasmRunner.Run(_engine, module, plan, exec), CancellationToken.None).ConfigureAwait(false);
            }
            catch (WasmModuleException e)
            {
                throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, $"argv[0] '{spec.Argv[0]}': {e.Message}");
            }
            finally
            {
                live.Remove(exec);
                _slots.Release();
            }
            if (exec.OutputFailure is not null)
            {
                throw new AirlockException(AirlockException.ErrorCodes.RuntimeFailed, "delivering the module's output failed: " + exec.OutputFailure.Message, inner: exec.OutputFailure);
            }
            ct.ThrowIfCancellationRequested();
            if (result.Trap is not null && result.Result.KilledReason is null or KillReasons.Memory)
            {
                await io.Stderr(Encoding.UTF8.GetBytes($"airlock: wasm trap: {result.Trap}: {result.TrapMessage}\n"), ct).ConfigureAwait(false);
            }
            return result;
        }
        finally
        {
            if (stdinFile is not null)
            {
                File.Delete(stdinFile);
            }
        }
    }

    /// <summary>argv[0] inside the workspace (relative, or absolute under workspace.path) is read through the
    /// confined resolver; any other absolute path is a host file.</summary>
    private Module LoadModule(SandboxRecord sandbox, string path)
    {
        var guestRoot = sandbox.Template.Workspace.Path.TrimEnd('/');
        var inWorkspace = !path.StartsWith('/') || path == guestRoot || path.StartsWith(guestRoot + "/", StringComparison.Ordinal);
        try
        {
            if (!inWorkspace)
            {
                return _options.AllowHostModules ? _cache.GetHostFile(path)
                    : throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument,
                        $"argv[0] '{path}' is outside the workspace, and this server loads modules only from there",
                        "upload the module into the sandbox's workspace and name it by its workspace path");
            }
            if (Access(sandbox.Template) == WorkspaceAccess.None)
            {
                throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument,
                    $"argv[0] '{path}' is a workspace path, but this sandbox has no workspace", "give the module's absolute host path");
            }
            return _cache.Get(new WorkspaceFiles(WorkspaceDir(sandbox.Id), sandbox.Template.Workspace.Path).ReadAll(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, $"argv[0] '{path}': {e.Message}");
        }
        catch (WasmtimeException e)
        {
            throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument,
                $"argv[0] '{path}' is not a valid WebAssembly module: {e.Message.Split('\n', 2)[0]}");
        }
    }

    private async Task<string> SpoolStdinAsync(Stream stdin, CancellationToken ct)
    {
        var dir = Path.Combine(_store.Paths.Root, "stdin");
        Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var file = Path.Combine(dir, Guid.NewGuid().ToString("N"));
        await using var output = new FileStream(file, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite });
        var buffer = new byte[81920];
        long total = 0;
        int n;
        while ((n = await stdin.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            total += n;
            if (total > MaxStdinBytes)
            {
                throw new AirlockException(AirlockException.ErrorCodes.TooLarge, $"stdin of a wasm exec is limited to {Quantity.FormatBytes(MaxStdinBytes)}");
            }
            await output.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
        }
        return file;
    }

    // ---------------------------------------------------------------- state

    private static SandboxRecord NewRecord(SandboxTemplate template, bool ephemeral) => new(
        SandboxRecord.NewId(), template, DateTimeOffset.UtcNow, ephemeral, Environment.ProcessId, OwnStartTicks);

    /// <summary>The template's <c>workspace.access</c>.</summary>
    public static WorkspaceAccess Access(SandboxTemplate t) => t.Workspace.Access switch
    {
        WorkspaceAccessModes.None => WorkspaceAccess.None,
        WorkspaceAccessModes.ReadOnly => WorkspaceAccess.ReadOnly,
        _ => WorkspaceAccess.ReadWrite,
    };

    private string WorkspaceDir(string id) => Path.Combine(_store.Paths.Sandbox(id), "workspace");

    private LiveSandbox Live(string id) => _live.GetOrAdd(id, static _ => new LiveSandbox());

    /// <summary>Record first (so a crash is reapable), then the workspace tmpfs.</summary>
    private void Prepare(SandboxRecord record)
    {
        _store.Save(record);
        if (Access(record.Template) == WorkspaceAccess.None)
        {
            return;
        }
        var workspace = WorkspaceDir(record.Id);
        Directory.CreateDirectory(workspace);
        var data = $"size={Quantity.ParseBytes(record.Template.Workspace.Size)},mode=0700";
        if (Libc.Mount("airlock-wasm", workspace, "tmpfs", Libc.MS_NOSUID | Libc.MS_NODEV | Libc.MS_NOEXEC, data) != 0)
        {
            var errno = Libc.Errno;
            throw new AirlockException(AirlockException.ErrorCodes.HostUnsupported,
                $"cannot mount the sandbox's workspace tmpfs at {workspace}: {Libc.ErrorText(errno)}", "run Airlock as root, or run without a workspace");
        }
    }

    /// <summary>Unmounts and removes the sandbox directory; refuses to delete through a mount that would not go.</summary>
    private void Cleanup(string id)
    {
        _live.TryRemove(id, out _);
        var dir = _store.Paths.Sandbox(id);
        if (!Directory.Exists(dir))
        {
            return;
        }
        // The one mount a wasm sandbox has is its workspace: unmount it directly, and read the mount table (slow on
        // hosts with many mounts) only when that did not work (never mounted, or still busy).
        List<string> left = [];
        if (Libc.Umount2(WorkspaceDir(id), 0) != 0)
        {
            foreach (var m in MountTable.Under(dir).OrderByDescending(m => m.Length))
            {
                _ = Libc.Umount2(m, Libc.MNT_DETACH);
            }
            left = MountTable.Under(dir);
        }
        if (left.Count > 0)
        {
            throw new AirlockException(AirlockException.ErrorCodes.RuntimeFailed,
                $"sandbox {id}: {left[0]} is still mounted; its directory was kept", "unmount it by hand and run any airlock command to finish the cleanup");
        }
        Directory.Delete(dir, recursive: true);
    }

    /// <summary>What this process knows of a sandbox: its running execs and its pause gate.</summary>
    private sealed class LiveSandbox
    {
        private readonly HashSet<ExecContext> _running = [];

        public PauseGate Gate { get; } = new();

        public void Add(ExecContext exec)
        {
            lock (_running)
            {
                _running.Add(exec);
            }
        }

        public void Remove(ExecContext exec)
        {
            lock (_running)
            {
                _running.Remove(exec);
            }
        }

        public void KillAll(string reason)
        {
            lock (_running)
            {
                foreach (var exec in _running)
                {
                    exec.Kill(reason);
                }
            }
        }
    }
}
