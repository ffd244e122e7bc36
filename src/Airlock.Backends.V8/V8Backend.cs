using System.Text;
using Airlock.Backends.Oci;
using Airlock.Backends.Oci.Cgroups;
using Airlock.Backends.V8.Workers;
using Airlock.Core;
using Airlock.Core.Backends;
using Airlock.Core.Model;
using Airlock.Core.Storage;
using Airlock.Core.Util;
using Airlock.Guest.Protocol;
using Airlock.V8Worker.Protocol;

namespace Airlock.Backends.V8;

/// <summary>
/// The <c>v8</c> isolation class: short JavaScript and Python (Pyodide) snippets, each in a fresh V8 isolate with
/// nothing but ECMAScript (and for Python the few pure-JavaScript shims Pyodide needs), a heap limit, an interrupt at
/// the timeout and a captured, capped console. The isolates live in pre-started worker processes
/// (<c>Airlock.V8Worker</c>), never in this process: a script can abort the process that hosts it (a sudden huge
/// allocation reaches V8's hard heap limit) and WebAssembly memory is outside V8's heap limit, so each worker runs in
/// bubblewrap (no network, no host files but its own, no capabilities) and in a memory cgroup. A worker that dies is
/// replaced; only the one exec it was running fails, with kill reason <c>memory</c> or <c>worker-crashed</c>.
/// </summary>
/// <remarks>
/// <para><b>Exec</b>: <c>ExecSpec.Argv</c> is <c>["js", CODE]</c> or <c>["python", CODE]</c>; with
/// <c>["js"]</c> or <c>["python"]</c> alone the code is read from <c>ExecIo.Stdin</c> (UTF-8). JavaScript is a
/// classic script: exit 0 when it completes, 1 with the uncaught exception and its stack on stderr;
/// <c>console.log/info/debug</c> go to stdout, <c>console.warn/error/trace</c> to stderr. Python runs as
/// <c>__main__</c>: exit 0, the <c>SystemExit</c> code, or 1 with the traceback on stderr. A killed exec exits 137
/// with signal 9 and a kill reason (<c>timeout</c>, <c>memory</c>, <c>output-limit</c>,
/// <see cref="V8KillReasons.WorkerCrashed"/>), as in every class. Output is delivered when the exec ends.</para>
/// <para><b>State</b>: none survives an exec; a sandbox is only its record (and suspended marker) under
/// <c>$AIRLOCK_HOME/v8/sandboxes</c>. There is no filesystem: <see cref="Files"/> refuses.</para>
/// <para><b>Limits</b>: <c>resources.timeout</c> interrupts the engine; <c>resources.memory</c> is the exec's V8 heap
/// limit (at most <see cref="V8Options.MaxHeapBytes"/>); the worker's cgroup (<see cref="V8Options.WorkerMemoryBytes"/>)
/// bounds everything else, WebAssembly and the Python interpreter included; <c>resources.outputLimit</c> caps
/// stdout+stderr.</para>
/// </remarks>
public sealed class V8Backend : IIsolationBackend, IReapingBackend, IDisposable
{
    /// <summary>The one runtime of the class, for <c>isolation.runtime</c>.</summary>
    public const string Runtime = "v8";

    private const long MaxCodeBytes = 16L << 20;
    private static readonly long OwnStartTicks = ProcessIdentity.StartTicks(Environment.ProcessId);
    private readonly V8Options _options;
    private readonly SandboxStore _store;
    private readonly InProcessClass _class;
    private readonly string _cgroupParent;
    private readonly Lazy<WorkerJail> _jail;
    private readonly WorkerPool _js;
    private readonly WorkerPool _python;
    private readonly Lazy<string?> _pyodide;

    /// <summary>Creates the backend; workers start on first use or <see cref="WarmUpAsync"/>. State lives under
    /// <c>&lt;root&gt;/v8</c>; worker cgroups under <c>&lt;parent&gt;-v8/</c> of the OCI class's cgroup parent.</summary>
    public V8Backend(AirlockPaths paths, V8Options? options = null)
    {
        _options = options ?? new V8Options();
        _store = new SandboxStore(new AirlockPaths(Path.Combine(paths.Root, "v8")));
        _class = new InProcessClass(IsolationClasses.V8, Runtime, _store);
        _cgroupParent = SandboxCgroup.ParentFor(paths.Root) + "-v8";
        _pyodide = new Lazy<string?>(() => FindPyodide(_options.PyodideDirectory));
        _jail = new Lazy<WorkerJail>(() => new WorkerJail(_options, WorkerDirectory, PyodideDirectory, DotnetPath, _cgroupParent));
        _js = new WorkerPool(_options.JsWorkers, (ready, exit) => new WorkerProcess(WorkerLanguages.JavaScript, _jail.Value, ready, exit));
        _python = new WorkerPool(_options.PythonWorkers, (ready, exit) =>
        {
            if (PyodideDirectory is null)
            {
                throw new AirlockException(AirlockException.ErrorCodes.RuntimeMissing,
                    "Python in the v8 class needs the npm package pyodide 314.0.7, and none was found",
                    "run: bash scripts/pyodide.sh (or set V8Options.PyodideDirectory / AIRLOCK_PYODIDE_DIR)");
            }
            return new WorkerProcess(WorkerLanguages.Python, _jail.Value, ready, exit);
        });
    }

    /// <inheritdoc/>
    public string IsolationClass => IsolationClasses.V8;

    /// <summary>Where the worker's build output is read from.</summary>
    public string WorkerDirectory => _options.WorkerDirectory ?? Path.Combine(AppContext.BaseDirectory, "v8worker");

    /// <summary>The Pyodide package directory in use, or null when none was found (Python execs then fail).</summary>
    public string? PyodideDirectory => _pyodide.Value;

    /// <summary>The dotnet host that runs the worker.</summary>
    public string DotnetPath => _options.DotnetPath ?? FindDotnet();

    /// <summary>The live workers and what each costs in memory (its cgroup's charge).</summary>
    public IReadOnlyList<V8WorkerInfo> Workers =>
        _js.Workers.Concat(_python.Workers).Select(w => new V8WorkerInfo(w.Language, w.Pid, w.MemoryBytes)).ToList();

    /// <summary>Starts the workers of <paramref name="language"/> (<c>js</c> or <c>python</c>) and waits until each has
    /// a fresh engine ready, so the next exec is a message to a waiting process. Throws what kept a worker from
    /// starting.</summary>
    public async Task WarmUpAsync(string language, CancellationToken ct)
    {
        try
        {
            await Pool(language).EnsureStartedAsync(ct).ConfigureAwait(false);
        }
        catch (WorkerDiedException e)
        {
            throw new AirlockException(AirlockException.ErrorCodes.RuntimeFailed, $"the v8 {language} worker did not start: {e.Message}");
        }
    }

    /// <summary>Reports every template field the v8 class cannot enforce. Enforced: resources.timeout,
    /// resources.memory (the V8 heap of one exec, at most <see cref="V8Options.MaxHeapBytes"/>), resources.outputLimit.
    /// Vacuous and accepted: resources.pids, resources.disk, resources.openFiles (a script can start nothing and open
    /// nothing), workspace (unused: there is no
    /// filesystem). Refused unless at their defaults: isolation.runtime (<c>v8</c>; <c>crun</c> counts as unset),
    /// isolation.userNamespace <c>required</c>, env (a script has no environment), rootFs.hostPaths, rootFs.hostname, network.mode other than
    /// <c>none</c>, resources.cpus below 1 (an exec runs on one thread).</summary>
    public void CheckEnforceable(SandboxTemplate template, Action<string, string> addError)
    {
        var t = template;
        _class.CheckNoHostLayout(t, addError);
        var defaultEnv = SandboxTemplate.DefaultEnv;
        if (t.Env.Count != defaultEnv.Count || t.Env.Any(kv => !defaultEnv.TryGetValue(kv.Key, out var v) || v != kv.Value))
        {
            addError("env", "a v8 script has no environment; leave env at its default");
        }
        if (Quantity.TryParseBytes(t.Resources.Memory, out var memory) && memory > _options.MaxHeapBytes)
        {
            addError("resources.memory", $"above the v8 class's largest heap ({Quantity.FormatBytes(_options.MaxHeapBytes)})");
        }
        if (_options.Jail && !Environment.IsPrivilegedProcess)
        {
            addError("isolation.class", "the v8 class jails its worker in a memory cgroup, which needs root");
        }
    }

    // ---------------------------------------------------------------- lifecycle

    /// <inheritdoc/>
    public Task<SandboxRecord> CreateAsync(SandboxTemplate template, CancellationToken ct)
    {
        var record = NewRecord(template, ephemeral: false) with { OwnerPid = 0, OwnerStartTicks = 0 };
        _store.Save(record);
        return Task.FromResult(record);
    }

    /// <inheritdoc/>
    public Task<ExecResult> ExecAsync(SandboxRecord sandbox, ExecSpec spec, ExecIo io, CancellationToken ct)
    {
        _class.RequireRunning(sandbox.Id);
        return ExecCoreAsync(sandbox.Template, spec, io, ct);
    }

    /// <summary>Refuses: a v8 sandbox has no filesystem.</summary>
    public ISandboxFiles Files(SandboxRecord sandbox) => throw new AirlockException(AirlockException.ErrorCodes.File,
        $"sandbox {sandbox.Id} is of the v8 class, which has no filesystem", "pass data in the code, or use the wasm or oci class");

    /// <inheritdoc/>
    public Task DestroyAsync(SandboxRecord sandbox, CancellationToken ct)
    {
        var dir = _store.Paths.Sandbox(sandbox.Id);
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task<SandboxState> StatusAsync(SandboxRecord sandbox, CancellationToken ct) => Task.FromResult(_class.Status(sandbox.Id));

    /// <summary>Refuses new execs until <see cref="ResumeAsync"/>. An exec already running finishes (a v8 exec is
    /// bounded by its timeout and keeps no state to freeze).</summary>
    public Task SuspendAsync(SandboxRecord sandbox, CancellationToken ct)
    {
        _class.SetSuspended(sandbox.Id, true);
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task ResumeAsync(SandboxRecord sandbox, CancellationToken ct)
    {
        _class.SetSuspended(sandbox.Id, false);
        return Task.CompletedTask;
    }

    /// <summary>Runs one snippet in a fresh ephemeral sandbox; nothing is written to disk.</summary>
    public async Task<RunResult> RunAsync(SandboxTemplate template, ExecSpec spec, ExecIo io, CancellationToken ct)
    {
        var record = NewRecord(template, ephemeral: true);
        return new RunResult(record.Id, await ExecCoreAsync(template, spec, io, ct).ConfigureAwait(false));
    }

    /// <summary>Removes worker cgroups whose owner process died (the workers themselves die with their owner) and
    /// half-written sandbox directories. Persistent sandboxes are kept: they hold nothing but their record.</summary>
    public Task<IReadOnlyList<string>> ReapOrphansAsync(CancellationToken ct)
    {
        var reaped = new List<string>();
        var layout = CgroupLayout.Detect();
        foreach (var id in SandboxCgroup.ListIds(layout, _cgroupParent))
        {
            var parts = id.Split('-');
            if (parts.Length >= 3 && parts[0].StartsWith('w')
                && int.TryParse(parts[0][1..], out var pid) && long.TryParse(parts[1], out var ticks)
                && !ProcessIdentity.IsAlive(pid, ticks))
            {
                new SandboxCgroup(layout, _cgroupParent, id).Destroy();
                reaped.Add(id);
            }
        }
        foreach (var id in _store.ListIds())
        {
            if (_store.TryGet(id) is null && Directory.GetCreationTimeUtc(_store.Paths.Sandbox(id)) < DateTime.UtcNow.AddSeconds(-30))
            {
                Directory.Delete(_store.Paths.Sandbox(id), recursive: true);
                reaped.Add(id);
            }
        }
        return Task.FromResult<IReadOnlyList<string>>(reaped);
    }

    /// <summary>Stops every worker and removes its cgroup.</summary>
    public void Dispose()
    {
        _js.Dispose();
        _python.Dispose();
        if (_options.Jail)
        {
            try
            {
                SandboxCgroup.RemoveParent(CgroupLayout.Detect(), _cgroupParent);
            }
            catch (IOException)
            {
            }
        }
    }

    // ---------------------------------------------------------------- execution

    private async Task<ExecResult> ExecCoreAsync(SandboxTemplate t, ExecSpec spec, ExecIo io, CancellationToken ct)
    {
        var (language, code) = await ReadCodeAsync(spec, io, ct).ConfigureAwait(false);
        var timeout = spec.Timeout ?? Quantity.ParseDuration(t.Resources.Timeout);
        var heap = Math.Min(Quantity.ParseBytes(t.Resources.Memory), _options.MaxHeapBytes);
        var outputLimit = spec.OutputLimit ?? Quantity.ParseBytes(t.Resources.OutputLimit);
        var started = System.Diagnostics.Stopwatch.StartNew();
        var pool = Pool(language);
        WorkerProcess worker;
        try
        {
            worker = await pool.RentAsync(ct).ConfigureAwait(false);
        }
        catch (WorkerDiedException e)
        {
            throw new AirlockException(AirlockException.ErrorCodes.RuntimeFailed, $"no v8 {language} worker could start: {e.Message}");
        }
        WorkerMessage result;
        var run = worker.RunAsync(code, timeout, heap, outputLimit);
        // The worker interrupts the script at the timeout itself; this host-side deadline only catches a worker that
        // stopped answering (wedged in native code), and kills it.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout + TimeSpan.FromSeconds(5));
        try
        {
            result = await run.WaitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            worker.Kill(ct.IsCancellationRequested ? KillReasons.Signal : KillReasons.Timeout);
            try
            {
                result = await run.ConfigureAwait(false);
            }
            catch (WorkerDiedException e)
            {
                result = Died(e);
            }
            ct.ThrowIfCancellationRequested();
        }
        catch (WorkerDiedException e)
        {
            result = Died(e);
        }
        var stdout = result.Stdout ?? [];
        var stderr = result.Stderr ?? [];
        if (stdout.Length > 0)
        {
            await io.Stdout(stdout, ct).ConfigureAwait(false);
        }
        if (stderr.Length > 0)
        {
            await io.Stderr(stderr, ct).ConfigureAwait(false);
        }
        var killed = result.Killed;
        return new ExecResult(
            killed is null ? result.ExitCode : 137,
            killed is null ? null : 9,
            killed,
            started.ElapsedMilliseconds,
            stdout.Length,
            stderr.Length,
            result.Truncated);
    }

    private static WorkerMessage Died(WorkerDiedException e) => new()
    {
        Type = WorkerMessage.Result,
        ExitCode = 137,
        Killed = e.Reason,
        Stderr = Encoding.UTF8.GetBytes($"airlock: {e.Message}\n"),
    };

    private static async Task<(string Language, string Code)> ReadCodeAsync(ExecSpec spec, ExecIo io, CancellationToken ct)
    {
        if (spec.Argv.Count is < 1 or > 2 || spec.Argv[0] is not (V8Languages.JavaScript or V8Languages.Python))
        {
            throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument,
                "argv: the v8 class takes [\"js\", CODE] or [\"python\", CODE] (or the language alone with the code on stdin)");
        }
        if (spec.Cwd is not null)
        {
            throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, "cwd: a v8 script has no filesystem and no working directory");
        }
        if (spec.Env is { Count: > 0 })
        {
            throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, "env: a v8 script has no environment");
        }
        string code;
        if (spec.Argv.Count == 2)
        {
            code = spec.Argv[1];
        }
        else if (io.Stdin is null)
        {
            throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, $"argv: [\"{spec.Argv[0]}\"] alone reads the code from stdin, and there is none");
        }
        else
        {
            using var buffer = new MemoryStream();
            var chunk = new byte[81920];
            int n;
            while ((n = await io.Stdin.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
            {
                if (buffer.Length + n > MaxCodeBytes)
                {
                    throw new AirlockException(AirlockException.ErrorCodes.TooLarge, $"code of a v8 exec is limited to {Quantity.FormatBytes(MaxCodeBytes)}");
                }
                buffer.Write(chunk, 0, n);
            }
            code = Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
        }
        if (Encoding.UTF8.GetByteCount(code) > MaxCodeBytes)
        {
            throw new AirlockException(AirlockException.ErrorCodes.TooLarge, $"code of a v8 exec is limited to {Quantity.FormatBytes(MaxCodeBytes)}");
        }
        return (spec.Argv[0], code);
    }

    private WorkerPool Pool(string language) => language switch
    {
        V8Languages.JavaScript => _js,
        V8Languages.Python => _python,
        _ => throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, $"unknown v8 language '{language}' (js or python)"),
    };

    // ---------------------------------------------------------------- host discovery

    private static string? FindPyodide(string? configured)
    {
        static bool Ok(string dir) => File.Exists(Path.Combine(dir, "pyodide.asm.wasm"));
        if (configured is not null)
        {
            return Ok(configured) ? Path.GetFullPath(configured) : null;
        }
        if (Environment.GetEnvironmentVariable("AIRLOCK_PYODIDE_DIR") is { Length: > 0 } env)
        {
            return Ok(env) ? Path.GetFullPath(env) : null;
        }
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "artifacts", "pyodide", "node_modules", "pyodide");
            if (Ok(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    private static string FindDotnet()
    {
        var candidates = new List<string?>
        {
            Environment.ProcessPath is { } p && Path.GetFileName(p) == "dotnet" ? p : null,
            Environment.GetEnvironmentVariable("DOTNET_HOST_PATH"),
            Environment.GetEnvironmentVariable("DOTNET_ROOT") is { } root ? Path.Combine(root, "dotnet") : null,
            "/usr/share/dotnet/dotnet",
            "/usr/lib/dotnet/dotnet",
            "/usr/bin/dotnet",
        };
        foreach (var c in candidates)
        {
            if (c is not null && File.Exists(c))
            {
                // Resolve /usr/bin/dotnet -> /usr/share/dotnet/dotnet: the host finds the runtime next to itself.
                return new FileInfo(c).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? Path.GetFullPath(c);
            }
        }
        throw new AirlockException(AirlockException.ErrorCodes.RuntimeMissing, "the v8 class runs its worker with dotnet, and none was found",
            "install the .NET 10 runtime or set V8Options.DotnetPath");
    }

    // ---------------------------------------------------------------- state

    private static SandboxRecord NewRecord(SandboxTemplate template, bool ephemeral) => new(
        SandboxRecord.NewId(), template, DateTimeOffset.UtcNow, ephemeral, Environment.ProcessId, OwnStartTicks);
}
