namespace Airlock.Backends.V8;

/// <summary>Options of the v8 backend. Every path left null is found: see each property.</summary>
public sealed record V8Options
{
    /// <summary>Directory holding the worker's build output (<c>Airlock.V8Worker.dll</c>, its deps and the native V8
    /// library); <c>&lt;app base&gt;/v8worker</c> when null, where building any project that references the backend
    /// puts it.</summary>
    public string? WorkerDirectory { get; init; }

    /// <summary>Directory of the npm package <c>pyodide</c> (the one holding <c>pyodide.asm.wasm</c>). When null:
    /// <c>$AIRLOCK_PYODIDE_DIR</c>, else the first <c>artifacts/pyodide/node_modules/pyodide</c> found walking up
    /// from the app base (what <c>scripts/pyodide.sh</c> installs). Python execs fail with a clear error when there
    /// is none.</summary>
    public string? PyodideDirectory { get; init; }

    /// <summary>The <c>dotnet</c> host that runs the worker; when null the one running this process, else
    /// <c>$DOTNET_ROOT/dotnet</c>, <c>/usr/share/dotnet/dotnet</c>, <c>/usr/lib/dotnet/dotnet</c>.</summary>
    public string? DotnetPath { get; init; }

    /// <summary>Pre-started JavaScript workers. Each runs one execution at a time; more concurrent execs wait.</summary>
    public int JsWorkers { get; init; } = 2;

    /// <summary>Pre-started Python workers (each holds a booted interpreter, roughly 100 MiB, ready for the next
    /// exec). Started on the first Python exec or by <see cref="V8Backend.WarmUpAsync"/>.</summary>
    public int PythonWorkers { get; init; } = 1;

    /// <summary>Memory cgroup limit of each worker process: V8 heap, WebAssembly memories (which V8's heap limit does
    /// not count), the .NET runtime and the Pyodide interpreter. A script that exceeds it gets the worker OOM-killed
    /// and its exec reports kill reason <c>memory</c>.</summary>
    public long WorkerMemoryBytes { get; init; } = 1L << 30;

    /// <summary>V8's hard heap limit of every isolate (old space). Reaching it aborts the worker (reported as
    /// <c>memory</c>); templates may ask for at most this much (<c>resources.memory</c> is each exec's sampled heap
    /// limit, which ends the script before the hard limit in all but sudden allocations).</summary>
    public long MaxHeapBytes { get; init; } = 512L << 20;

    /// <summary>Runs the worker in bubblewrap and a cgroup (the default, and the only safe setting). False runs it as
    /// a plain child process, for diagnosing the worker only.</summary>
    public bool Jail { get; init; } = true;

    /// <summary>Boot Python from a memory snapshot of a fresh interpreter after the first full load (faster
    /// replacement of a used interpreter); false boots every interpreter from the files.</summary>
    public bool PythonSnapshot { get; init; } = true;

    /// <summary>How long a worker may take to start (Python: to load Pyodide) before it is killed.</summary>
    public TimeSpan WorkerStartTimeout { get; init; } = TimeSpan.FromSeconds(90);
}
