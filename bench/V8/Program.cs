using System.Diagnostics;
using System.Globalization;
using Airlock.Backends.V8;
using Airlock.Core.Backends;
using Airlock.Core.Model;
using Airlock.Core.Storage;
using Microsoft.ClearScript.V8;

// v8 class benchmark, side by side in one run:
//   JS:     exec p50 through V8Backend (jailed worker, fresh isolate per exec) vs a bare ClearScript engine in-process
//           (fresh engine per exec, and one reused engine);
//   Python: exec p50 through V8Backend (fresh Pyodide interpreter per exec, booted while the worker waited) vs `node`
//           loading pyodide cold per run; plus how long a worker takes to boot the next interpreter (snapshot);
//   memory: cgroup charge of each idle worker.
// Usage: v8-bench PYODIDE_DIR [JS_ITERATIONS] [PY_ITERATIONS] [NODE_ITERATIONS]
var inv = CultureInfo.InvariantCulture;
var pyodideDir = args.Length > 0 ? args[0] : throw new ArgumentException("usage: v8-bench PYODIDE_DIR [JS_ITER] [PY_ITER] [NODE_ITER]");
var jsIterations = args.Length > 1 ? int.Parse(args[1], inv) : 500;
var pyIterations = args.Length > 2 ? int.Parse(args[2], inv) : 20;
var nodeIterations = args.Length > 3 ? int.Parse(args[3], inv) : 5;
const string JsCode = "{ let s = 0; for (let i = 0; i < 1000; i++) s += i; console.log(s); }";
const string PyCode = "print(sum(range(1000)))";

static double P50(List<double> xs)
{
    xs.Sort();
    return xs[xs.Count / 2];
}

var root = Path.Combine(Path.GetTempPath(), "airlock-v8-bench-" + Guid.NewGuid().ToString("N")[..8]);
var template = new SandboxTemplate { Name = "bench", Isolation = new IsolationSpec { Class = "v8" }, Resources = new ResourceSpec { Timeout = "30s", Memory = "128Mi" } };
using var backend = new V8Backend(new AirlockPaths(root), new V8Options { JsWorkers = 1, PythonWorkers = 1, PythonSnapshot = true });
var rows = new List<(string Case, double P50, string Note)>();
try
{
    // ---- JavaScript
    await backend.WarmUpAsync("js", CancellationToken.None);
    async Task<double> ExecMs(string lang, string code)
    {
        var sw = Stopwatch.StartNew();
        var r = await backend.RunAsync(template, new ExecSpec([lang, code]), ExecIo.Null, CancellationToken.None);
        var ms = sw.Elapsed.TotalMilliseconds;
        if (r.Result.ExitCode != 0)
        {
            throw new InvalidOperationException($"{lang} exec failed: {r.Result}");
        }
        return ms;
    }
    // One worker: execs back to back include the worker preparing the next isolate; with a pause in between (as
    // when a spare isolate is waiting) they measure the message round trip plus the script.
    for (var i = 0; i < 20; i++)
    {
        await ExecMs("js", JsCode);
    }
    var jsBackToBack = new List<double>();
    for (var i = 0; i < jsIterations; i++)
    {
        jsBackToBack.Add(await ExecMs("js", JsCode));
    }
    var jsWarm = new List<double>();
    for (var i = 0; i < Math.Min(jsIterations, 200); i++)
    {
        await Task.Delay(10);
        jsWarm.Add(await ExecMs("js", JsCode));
    }
    var bareFresh = new List<double>();
    var bareReused = new List<double>();
    using (var reused = new V8ScriptEngine())
    {
        for (var i = 0; i < jsIterations + 20; i++)
        {
            var sw = Stopwatch.StartNew();
            using (var e = new V8ScriptEngine())
            {
                e.Execute("globalThis.console = { log() {} };" + JsCode);
            }
            if (i >= 20)
            {
                bareFresh.Add(sw.Elapsed.TotalMilliseconds);
            }
            sw.Restart();
            reused.Execute("globalThis.console = { log() {} };" + JsCode);
            if (i >= 20)
            {
                bareReused.Add(sw.Elapsed.TotalMilliseconds);
            }
        }
    }
    var jsJailWarm = P50(jsWarm);
    rows.Add(("js: V8Backend exec, spare isolate waiting (jailed worker)", jsJailWarm, "goal <= 5 ms"));
    rows.Add(("js: V8Backend exec, back to back on 1 worker", P50(jsBackToBack), "includes preparing the next isolate"));
    rows.Add(("js baseline: bare ClearScript, new engine per exec, in-process", P50(bareFresh), $"ratio jailed/bare = {jsJailWarm / P50(bareFresh):F2}"));
    rows.Add(("js baseline: bare ClearScript, one reused engine, in-process", P50(bareReused), $"ratio jailed/bare = {jsJailWarm / P50(bareReused):F2}"));

    // ---- Python
    var sw0 = Stopwatch.StartNew();
    await backend.WarmUpAsync("python", CancellationToken.None);
    var pyFirstBoot = sw0.Elapsed.TotalMilliseconds;
    var pyWarm = new List<double>();
    var pyNextReady = new List<double>();
    for (var i = 0; i < pyIterations + 2; i++)
    {
        var ms = await ExecMs("python", PyCode);
        if (i >= 2)
        {
            pyWarm.Add(ms);
        }
        // Time until the worker has booted the next fresh interpreter (from the snapshot) and is idle again.
        var sw = Stopwatch.StartNew();
        await backend.WarmUpAsync("python", CancellationToken.None);
        var idle = false;
        while (!idle)
        {
            var r = await backend.RunAsync(template, new ExecSpec(["python", "pass"]), ExecIo.Null, CancellationToken.None);
            idle = r.Result.ExitCode == 0;
        }
        pyNextReady.Add(sw.Elapsed.TotalMilliseconds);
        await Task.Delay(2500);
    }
    var node = new List<double>();
    var nodeScript = Path.Combine(root, "node-pyodide.mjs");
    Directory.CreateDirectory(root);
    File.WriteAllText(nodeScript, $"import {{ loadPyodide }} from '{Path.Combine(pyodideDir, "pyodide.mjs")}';\nconst py = await loadPyodide();\npy.runPython('{PyCode}');\n");
    for (var i = 0; i < nodeIterations; i++)
    {
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(new ProcessStartInfo("node", [nodeScript]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0 || !output.Contains("499500", StringComparison.Ordinal))
        {
            throw new InvalidOperationException("node pyodide failed: " + await p.StandardError.ReadToEndAsync());
        }
        node.Add(sw.Elapsed.TotalMilliseconds);
    }
    var pyP50 = P50(pyWarm);
    rows.Add(("python: V8Backend exec, fresh interpreter waiting (jailed worker)", pyP50, "goal <= 150 ms"));
    rows.Add(("python baseline: node loading pyodide cold per run", P50(node), $"ratio ours/node = {pyP50 / P50(node):F3}"));
    rows.Add(("python: worker boots the next interpreter (snapshot) + one exec", P50(pyNextReady), "throughput bound of 1 worker"));
    rows.Add(("python: first worker start (full Pyodide load + snapshot)", pyFirstBoot, "once per worker"));

    await Task.Delay(500);
    Console.WriteLine("| case | p50 ms | note |");
    Console.WriteLine("|---|---:|---|");
    foreach (var (c, p, n) in rows)
    {
        Console.WriteLine($"| {c} | {p.ToString("F2", inv)} | {n} |");
    }
    Console.WriteLine();
    Console.WriteLine("| idle worker | memory (cgroup charge) |");
    Console.WriteLine("|---|---:|");
    foreach (var w in backend.Workers)
    {
        Console.WriteLine($"| {w.Language} (pid {w.Pid}) | {(w.MemoryBytes / 1048576.0).ToString("F1", inv)} MiB |");
    }
    Console.WriteLine();
    Console.WriteLine($"Samples: js {jsIterations} (spare-waiting {jsWarm.Count}), python {pyWarm.Count}, node {node.Count}.");
}
finally
{
    backend.Dispose();
    if (Directory.Exists(root))
    {
        Directory.Delete(root, recursive: true);
    }
}
