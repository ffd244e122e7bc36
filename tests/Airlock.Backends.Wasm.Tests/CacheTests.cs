using Airlock.Core.Backends;
using Wasmtime;

namespace Airlock.Backends.Wasm.Tests;

public sealed class CacheTests : IDisposable
{
    private readonly WasmFixture _f = new();

    public void Dispose() => _f.Dispose();

    private static Task<Captured> Hello(WasmBackend b, string code = "5") =>
        Captured.RunAsync(b, WasmFixture.Template(), new ExecSpec([Fixtures.Path("hello"), code]));

    private static string Sha(string path) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path)));

    [Fact]
    public async Task A_module_is_compiled_once_then_reused_from_memory_and_from_disk()
    {
        var first = _f.NewBackend();
        Assert.Equal(5, (await Hello(first)).Result.ExitCode);
        Assert.Equal(1, first.CacheStats.Compiled);
        var file = Path.Combine(first.CacheDirectory, $"{Sha(Fixtures.Path("hello"))}-{first.EngineSettingsKey}.cwasm");
        Assert.True(File.Exists(file));

        Assert.Equal(5, (await Hello(first)).Result.ExitCode);
        Assert.Equal(1, first.CacheStats.Compiled);
        Assert.True(first.CacheStats.MemoryHits >= 1);

        // A new engine with the same settings loads the precompiled module instead of compiling.
        var second = _f.NewBackend();
        Assert.Equal(first.EngineSettingsKey, second.EngineSettingsKey);
        Assert.Equal(5, (await Hello(second)).Result.ExitCode);
        Assert.Equal(new ModuleCacheStats(0, 1, 0, 0), second.CacheStats);
    }

    [Fact]
    public async Task Changed_engine_settings_use_another_cache_entry()
    {
        var speed = _f.NewBackend();
        await Hello(speed);
        var other = _f.NewBackend(new WasmOptions { OptimizationLevel = OptimizationLevel.None });

        Assert.NotEqual(speed.EngineSettingsKey, other.EngineSettingsKey);
        Assert.Equal(5, (await Hello(other)).Result.ExitCode);
        Assert.Equal(new ModuleCacheStats(0, 0, 1, 0), other.CacheStats);
        Assert.Equal(2, Directory.GetFiles(speed.CacheDirectory, "*.cwasm").Length);
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, false)]
    public async Task A_precompiled_module_from_other_settings_is_refused_and_replaced(bool fuel, bool epoch)
    {
        // Compile with an engine that differs in one code-shaping setting and put the result where the backend
        // looks, as a stale or planted file would be: Wasmtime's own compatibility check must refuse it, and the
        // backend compiles afresh. (Settings that do not change compatibility, such as the optimization level, are
        // kept apart by the settings hash in the file name; see the test above.)
        using var config = new Config().WithFuelConsumption(fuel).WithEpochInterruption(epoch);
        using var engine = new Wasmtime.Engine(config);
        using var foreign = Module.FromFile(engine, Fixtures.Path("hello"));
        var b = _f.NewBackend();
        var file = Path.Combine(b.CacheDirectory, $"{Sha(Fixtures.Path("hello"))}-{b.EngineSettingsKey}.cwasm");
        Directory.CreateDirectory(b.CacheDirectory);
        var planted = foreign.Serialize();
        File.WriteAllBytes(file, planted);

        Assert.Equal(5, (await Hello(b)).Result.ExitCode);
        Assert.Equal(new ModuleCacheStats(0, 0, 1, 1), b.CacheStats);
        Assert.NotEqual(planted, File.ReadAllBytes(file));
    }

    [Fact]
    public async Task A_damaged_cache_file_is_recompiled()
    {
        var a = _f.NewBackend();
        await Hello(a);
        var file = Directory.GetFiles(a.CacheDirectory, "*.cwasm").Single();
        await File.WriteAllBytesAsync(file, [0x7f, (byte)'E', (byte)'L', (byte)'F', 1, 2, 3]);

        var b = _f.NewBackend();
        Assert.Equal(5, (await Hello(b)).Result.ExitCode);
        Assert.Equal(new ModuleCacheStats(0, 0, 1, 1), b.CacheStats);
    }

    [Fact]
    public async Task The_wasmtime_version_is_part_of_the_settings()
    {
        var b = _f.NewBackend();
        Assert.Contains(b.EngineSettings, s => s.Name == "wasmtime" && s.Value.StartsWith("50.", StringComparison.Ordinal));
        await Task.CompletedTask;
    }
}
