using Wasmtime;

namespace Airlock.Backends.Wasm;

/// <summary>What a wasm module may do with the sandbox workspace (the template's <c>workspace.access</c>); nothing
/// else of the host is ever visible to a module.</summary>
public enum WorkspaceAccess
{
    /// <summary>No preopened directory at all: the module sees no filesystem, and an ephemeral run touches no disk.</summary>
    None,

    /// <summary>The workspace is preopened at <c>workspace.path</c>; writes fail with EPERM/ENOTCAPABLE.</summary>
    ReadOnly,

    /// <summary>The workspace is preopened at <c>workspace.path</c> for reading and writing, as in every other
    /// class.</summary>
    ReadWrite,
}

/// <summary>Options of the wasm backend. Engine settings (everything but <see cref="CacheDirectory"/>,
/// <see cref="Fuel"/> and <see cref="FuelPerSecond"/>) are part of the compiled-module cache
/// key: changing one recompiles every module once.</summary>
public sealed record WasmOptions
{
    /// <summary>Where precompiled modules are kept (mode 0700: they are native code loaded without verification);
    /// <c>&lt;AIRLOCK_HOME&gt;/wasm/cache</c> when null.</summary>
    public string? CacheDirectory { get; init; }

    /// <summary>Fuel (roughly one unit per wasm instruction) of one exec; when null, <see cref="FuelPerSecond"/> times
    /// the exec's timeout. Fuel bounds CPU deterministically, whatever the host load; the epoch deadline bounds wall
    /// time.</summary>
    public long? Fuel { get; init; }

    /// <summary>Fuel granted per second of timeout when <see cref="Fuel"/> is null.</summary>
    public long FuelPerSecond { get; init; } = 10_000_000_000;

    /// <summary>Executions that may run at once: the pooling allocator's instance, memory and table slots. More
    /// concurrent execs wait for a slot. Each slot reserves 4 GiB + guard of address space (not memory) so that
    /// wasm32 bounds checks are elided.</summary>
    public int MaxConcurrentExecutions { get; init; } = 64;

    /// <summary>Largest linear memory of any module (the pool's per-slot maximum); templates asking for more are
    /// rejected by <see cref="WasmBackend.CheckEnforceable"/>. At most 4 GiB (wasm32).</summary>
    public long MaxMemoryBytes { get; init; } = 4L << 30;

    /// <summary>Largest table of any module, in elements (function pointers of C/C++ programs).</summary>
    public int MaxTableElements { get; init; } = 100_000;

    /// <summary>Stack available to wasm code, in bytes; deeper recursion traps with <c>stack-overflow</c>.</summary>
    public int MaxWasmStackBytes { get; init; } = 512 << 10;

    /// <summary>Whether argv[0] may name a module by host path (the CLI, whose user owns the host). A daemon serving
    /// remote clients sets false: modules then come only from the sandbox's workspace.</summary>
    public bool AllowHostModules { get; init; } = true;

    /// <summary>Cranelift optimization level.</summary>
    public OptimizationLevel OptimizationLevel { get; init; } = OptimizationLevel.Speed;
}
