using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Wasmtime;

namespace Airlock.Backends.Wasm.Engine;

/// <summary>
/// One Wasmtime engine with its configuration written down once: the same list configures the engine and names it in
/// the module cache key, so a precompiled module is only ever offered to an engine with identical settings.
/// </summary>
internal sealed class WasmEngine : IDisposable
{
    public WasmEngine(WasmOptions options)
    {
        if (options.MaxConcurrentExecutions < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "MaxConcurrentExecutions must be at least 1");
        }
        if (options.MaxMemoryBytes is < 65536 or > 4L << 30)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "MaxMemoryBytes must be between 64 KiB and 4 GiB (wasm32)");
        }
        var slots = (uint)options.MaxConcurrentExecutions;
        // Every setting that shapes the engine, in the order applied. Defaults Wasmtime would pick anyway are still
        // written here, so an upgrade that changes a default cannot silently reuse code compiled under the old one.
        Settings =
        [
            ("wasmtime", WasmtimeVersion),
            ("fuel", "on"),
            ("epoch-interruption", "on"),
            ("optimization", options.OptimizationLevel.ToString()),
            ("max-wasm-stack", options.MaxWasmStackBytes.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("threads", "off"),
            ("component-model", "off"),
            ("gc", "off"),
            ("memory64", "off"),
            ("pool.core-instances", slots.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("pool.memories", slots.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("pool.tables", slots.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("pool.max-memory-size", options.MaxMemoryBytes.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("pool.max-table-elements", options.MaxTableElements.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("pool.memories-per-module", "1"),
            ("pool.tables-per-module", "1"),
        ];
        // The pooling allocator's defaults (1000 slots of each kind, each memory slot a 4 GiB + guard reservation)
        // reserve terabytes of address space; size every pool to the executions that may run at once. Components and
        // GC heaps are not used: their pools get the minimum. (This Wasmtime .NET build exposes no setter for the
        // async stack pool; async execution is off, so it allocates none.)
        using var pool = new PoolingAllocationConfig()
            .WithMaxCoreInstances(slots)
            .WithMaxMemories(slots)
            .WithMaxTables(slots)
            .WithMaxMemorySize((nuint)options.MaxMemoryBytes)
            .WithMaxTableElements((nuint)options.MaxTableElements)
            .WithMaxMemoriesPerModule(1)
            .WithMaxTablesPerModule(1)
            .WithTotalComponentInstances(1)
            .WithMaxGcHeaps(1)
            .WithMaxUnusedWarmSlots(slots);
        using var config = new Config()
            .WithFuelConsumption(true)
            .WithEpochInterruption(true)
            .WithOptimizationLevel(options.OptimizationLevel)
            .WithMaximumStackSize(options.MaxWasmStackBytes)
            .WithWasmThreads(false)
            .WithComponentModel(false)
            .WithGc(false)
            .WithMemory64(false)
            .WithPoolingAllocationStrategy(pool);
        Engine = new Wasmtime.Engine(config);
        SettingsKey = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
            string.Join("\n", Settings.Select(s => s.Name + "=" + s.Value)))))[..16];
        Linker = WasiLinker.Create(Engine);
    }

    public Wasmtime.Engine Engine { get; }

    /// <summary>WASI preview 1 with Airlock's denials and the deadline-aware <c>poll_oneoff</c> laid over it.</summary>
    public Linker Linker { get; }

    public IReadOnlyList<(string Name, string Value)> Settings { get; }

    /// <summary>Hash of <see cref="Settings"/>: the engine half of the compiled-module cache key.</summary>
    public string SettingsKey { get; }

    /// <summary>Version of the Wasmtime embedding (its native library is versioned with it).</summary>
    public static string WasmtimeVersion { get; } =
        typeof(Wasmtime.Engine).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? typeof(Wasmtime.Engine).Assembly.GetName().Version?.ToString()
        ?? "unknown";

    public void Dispose()
    {
        Linker.Dispose();
        Engine.Dispose();
    }
}
