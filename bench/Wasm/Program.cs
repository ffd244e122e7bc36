using System.Diagnostics;
using Airlock.Backends.Wasm;
using Airlock.Core.Backends;
using Airlock.Core.Model;
using Airlock.Core.Storage;
using Wasmtime;

// wasm class: instantiate + run of a cached small module (noop.wasm: puts("ok")), p50 on one thread and executions/s
// on 2 threads, through WasmBackend.RunAsync and through a raw Wasmtime .NET loop with the same engine settings
// (fuel, epoch interruption, pooling allocator) as the baseline, side by side in one process.
//   dotnet wasm-bench.dll MODULE.wasm [ITERATIONS] [SECONDS]
var module = args.Length > 0 ? Path.GetFullPath(args[0]) : throw new ArgumentException("usage: wasm-bench MODULE.wasm [ITERATIONS] [SECONDS]");
var iterations = args.Length > 1 ? int.Parse(args[1]) : 3000;
var seconds = args.Length > 2 ? double.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 3;
var home = Directory.CreateTempSubdirectory("airlock-wasm-bench-").FullName;
try
{
    var template = new SandboxTemplate
    {
        Name = "bench",
        Isolation = new IsolationSpec { Class = IsolationClasses.Wasm, Runtime = WasmBackend.Runtime },
        Resources = new ResourceSpec { Memory = "64Mi", Timeout = "10s" },
        Workspace = new WorkspaceSpec { Access = WorkspaceAccessModes.None },
    };
    var templateWs = template with { Workspace = new WorkspaceSpec { Access = WorkspaceAccessModes.ReadWrite } };
    var spec = new ExecSpec([module]);

    using var raw = new RawLoop(module);
    using var noWorkspace = new WasmBackend(new AirlockPaths(home));
    var withWorkspace = noWorkspace;

    Func<Task> rawRun = () => { raw.Run(); return Task.CompletedTask; };
    Func<Task> airlock = async () => Check(await noWorkspace.RunAsync(template, spec, ExecIo.Null, CancellationToken.None));
    Func<Task> airlockWs = async () => Check(await withWorkspace.RunAsync(templateWs, spec, ExecIo.Null, CancellationToken.None));

    // Interleave the cases round by round so drift in machine load hits all of them alike; report the median round.
    var cases = new (string Name, Func<Task> Run)[]
    {
        ("raw Wasmtime .NET loop (baseline)", rawRun),
        ("WasmBackend.RunAsync, no workspace", airlock),
        ("WasmBackend.RunAsync, tmpfs workspace", airlockWs),
    };
    foreach (var c in cases)
    {
        for (var i = 0; i < 200; i++)
        {
            await c.Run();
        }
    }
    const int rounds = 3;
    var p50 = cases.ToDictionary(c => c.Name, _ => new List<double>());
    var p99 = cases.ToDictionary(c => c.Name, _ => new List<double>());
    var rate = cases.ToDictionary(c => c.Name, _ => new List<double>());
    for (var round = 0; round < rounds; round++)
    {
        foreach (var c in cases)
        {
            var (a, b) = await Latency(c.Run, iterations / rounds);
            p50[c.Name].Add(a);
            p99[c.Name].Add(b);
            rate[c.Name].Add(await Throughput(c.Run, threads: 2, seconds / rounds));
        }
    }
    var baseP50 = Median(p50[cases[0].Name]);
    var baseRate = Median(rate[cases[0].Name]);
    Console.WriteLine($"Module: `{Path.GetFileName(module)}` ({new FileInfo(module).Length} bytes), cached (compiled before timing); {iterations} runs per latency case and {seconds:0.#} s per throughput case, in {rounds} interleaved rounds (median round shown).");
    Console.WriteLine();
    Console.WriteLine("| case | p50 µs | p99 µs | p50 vs baseline | execs/s, 2 threads | execs/s vs baseline |");
    Console.WriteLine("|---|---|---|---|---|---|");
    foreach (var c in cases)
    {
        var m = Median(p50[c.Name]);
        var r = Median(rate[c.Name]);
        Console.WriteLine($"| {c.Name} | {m:0.0} | {Median(p99[c.Name]):0.0} | {m / baseP50:0.00}× | {r:0} | {r / baseRate:0.00}× |");
    }
    Console.WriteLine();
    Console.WriteLine($"Goals: p50 ≤ 100 µs, ≥ 10,000 execs/s on 2 threads. Cache: {noWorkspace.CacheStats}.");
}
finally
{
    Directory.Delete(home, recursive: true);
}

static void Check(RunResult r)
{
    if (r.Result.ExitCode != 0 || r.Result.KilledReason is not null)
    {
        throw new InvalidOperationException($"run failed: {r.Result}");
    }
}

static async Task<(double P50, double P99)> Latency(Func<Task> run, int n)
{
    var samples = new double[n];
    for (var i = 0; i < n; i++)
    {
        var t = Stopwatch.GetTimestamp();
        await run();
        samples[i] = Stopwatch.GetElapsedTime(t).TotalMicroseconds;
    }
    Array.Sort(samples);
    return (samples[n / 2], samples[(int)(n * 0.99)]);
}

static async Task<double> Throughput(Func<Task> run, int threads, double seconds)
{
    long count = 0;
    var until = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
    var sw = Stopwatch.StartNew();
    var workers = Enumerable.Range(0, threads).Select(_ => Task.Run(async () =>
    {
        while (Stopwatch.GetTimestamp() < until)
        {
            await run();
            Interlocked.Increment(ref count);
        }
    }));
    await Task.WhenAll(workers);
    return count / sw.Elapsed.TotalSeconds;
}

static double Median(List<double> xs)
{
    var s = xs.Order().ToList();
    return s[s.Count / 2];
}

/// <summary>The baseline: what an embedder writes by hand with the same engine settings as the backend — a store
/// with fuel and an epoch deadline, WASI with captured stdout, instantiate, call _start — on the calling thread.</summary>
internal sealed class RawLoop : IDisposable
{
    private readonly Wasmtime.Engine _engine;
    private readonly Linker _linker;
    private readonly Module _module;
    private readonly string _path;

    public RawLoop(string path)
    {
        _path = path;
        using var pool = new PoolingAllocationConfig().WithMaxCoreInstances(64).WithMaxMemories(64).WithMaxTables(64)
            .WithMaxMemorySize(unchecked((nuint)(4UL << 30))).WithMaxTableElements(100_000).WithTotalComponentInstances(1).WithMaxGcHeaps(1);
        using var config = new Config().WithFuelConsumption(true).WithEpochInterruption(true).WithPoolingAllocationStrategy(pool);
        _engine = new Wasmtime.Engine(config);
        _linker = new Linker(_engine);
        _linker.DefineWasi();
        _module = Module.FromFile(_engine, path);
    }

    public void Run()
    {
        using var store = new Store(_engine);
        store.SetLimits(memorySize: 64 << 20);
        store.Fuel = 1_000_000_000;
        store.SetEpochDeadline(1);
        store.SetWasiConfiguration(new WasiConfiguration().WithArgs(_path).WithStandardOutputCallback(_ => { }).WithStandardErrorCallback(_ => { }));
        var instance = _linker.Instantiate(store, _module);
        try
        {
            instance.GetAction("_start")!();
        }
        catch (WasmtimeException e) when (e.ExitCode == 0)
        {
        }
    }

    public void Dispose()
    {
        _module.Dispose();
        _linker.Dispose();
        _engine.Dispose();
    }
}
