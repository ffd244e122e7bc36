using Airlock.Guest.Protocol;

namespace Airlock.Backends.Wasm;

/// <summary>Kill reasons only the wasm class reports, next to <see cref="KillReasons"/>.</summary>
public static class WasmKillReasons
{
    /// <summary>The exec used up its fuel (<see cref="WasmOptions.Fuel"/>): a CPU bound independent of host load.</summary>
    public const string Fuel = "fuel";
}

/// <summary>An exec's result with what only the wasm class knows.</summary>
/// <param name="Result">The result in the shape every class reports (exit 134 with signal 6 for a trap, 137 with
/// signal 9 and a kill reason for a killed exec).</param>
/// <param name="Trap">Trap code in kebab-case (<c>unreachable</c>, <c>memory-out-of-bounds</c>,
/// <c>stack-overflow</c>, <c>integer-division-by-zero</c>, <c>out-of-fuel</c>, ...), or null when the module did not trap.</param>
/// <param name="TrapMessage">Wasmtime's one-line description of the trap.</param>
/// <param name="MemoryBytes">Size of the module's linear memory when it ended.</param>
public sealed record WasmExecResult(ExecResult Result, string? Trap, string? TrapMessage, long MemoryBytes);

/// <summary>Counters of a the compiled-module cache, for tests and benchmarks.</summary>
/// <param name="MemoryHits">Modules served from this process's memory.</param>
/// <param name="DiskHits">Precompiled modules loaded from the cache directory.</param>
/// <param name="Compiled">Modules compiled from wasm bytes (and written to the cache directory).</param>
/// <param name="Rejected">Cache files Wasmtime refused to load (other settings or version, or damaged) and replaced.</param>
public readonly record struct ModuleCacheStats(long MemoryHits, long DiskHits, long Compiled, long Rejected);
