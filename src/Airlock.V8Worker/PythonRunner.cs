using System.Diagnostics;
using System.Security.Cryptography;
using Airlock.V8Worker.Protocol;
using Microsoft.ClearScript;
using Microsoft.ClearScript.JavaScript;
using Microsoft.ClearScript.V8;

namespace Airlock.V8Worker;

/// <summary>
/// Python on Pyodide. Each request gets an interpreter nobody used before: a fresh isolate in which Pyodide was loaded
/// (the first time from its files, then from a memory snapshot of a freshly booted interpreter) while the worker
/// waited for the request. The runtime's files are handed to the engine as typed arrays the worker fills, never as
/// host objects, and the file-reading shims are deleted before user code runs.
/// </summary>
internal sealed class PythonRunner : RunnerBase, IRunner
{
    private const string Index = "/pyodide/";
    private static readonly string Shims = Resource("pyodide-shims.js");
    private static readonly string Boot = Resource("pyodide-boot.js");

    private readonly int _maxHeapMb;
    private readonly bool _useSnapshot;
    private readonly byte[] _wasm;
    private readonly byte[] _stdlib;
    private readonly string _lock;
    private readonly string _asm;
    private readonly string _loader;
    private byte[]? _snapshot;
    private Spare? _spare;

    private sealed record Spare(V8ScriptEngine Engine, ScriptObject Console, ScriptObject Shims, ScriptObject Run);

    public PythonRunner(string dir, int maxHeapMb, bool useSnapshot)
    {
        _maxHeapMb = maxHeapMb;
        _useSnapshot = useSnapshot;
        _wasm = File.ReadAllBytes(Path.Combine(dir, "pyodide.asm.wasm"));
        _stdlib = File.ReadAllBytes(Path.Combine(dir, "python_stdlib.zip"));
        _lock = File.ReadAllText(Path.Combine(dir, "pyodide-lock.json"));
        // pyodide.asm.mjs is an ES module for its one export and import.meta.url; as a function body it runs as a
        // classic script, so no module loader (and no file access from script) is needed.
        var asm = File.ReadAllText(Path.Combine(dir, "pyodide.asm.mjs"));
        const string export = "export default _createPyodideModule;";
        if (!asm.Contains(export, StringComparison.Ordinal))
        {
            throw new InvalidOperationException("pyodide.asm.mjs has an unexpected shape (no default export); is this pyodide 314.x?");
        }
        // In a shell, Emscripten's /dev/urandom asks d8's os.system for `head -c N /dev/urandom`; here it is the
        // crypto.getRandomValues shim.
        const string randomFill = "initRandomFill=()=>{";
        if (!asm.Contains(randomFill, StringComparison.Ordinal))
        {
            throw new InvalidOperationException("pyodide.asm.mjs has an unexpected shape (no initRandomFill); is this pyodide 314.x?");
        }
        _asm = "(function () {\n" + asm.Replace(export, "return _createPyodideModule;", StringComparison.Ordinal)
            .Replace("import.meta.url", "'" + Index + "pyodide.asm.mjs'", StringComparison.Ordinal)
            .Replace(randomFill, randomFill + "return view=>crypto.getRandomValues(view);", StringComparison.Ordinal) + "\n})()";
        // pyodide.js declares a global `var loadPyodide` (non-configurable, so never deletable); inside a function it
        // is local and only its configurable globalThis.loadPyodide assignment remains, which seal() deletes.
        _loader = "(function () { var exports = {};\n" + File.ReadAllText(Path.Combine(dir, "pyodide.js")) + "\nreturn globalThis.loadPyodide; })()";
    }

    public TimeSpan Prepare()
    {
        var sw = Stopwatch.StartNew();
        _spare ??= Load();
        return sw.Elapsed;
    }

    public WorkerMessage Run(WorkerRequest request)
    {
        var spare = _spare ?? Load();
        _spare = null;
        try
        {
            return Execute(spare.Engine, spare.Console, request, binaryOutput: true,
                () => Convert.ToInt32(spare.Run.Invoke(false, request.Code), System.Globalization.CultureInfo.InvariantCulture));
        }
        finally
        {
            spare.Engine.Dispose();
        }
    }

    private Spare Load()
    {
        var (engine, console) = NewEngine(_maxHeapMb);
        try
        {
            var newBytes = (ScriptObject)engine.Evaluate("(n) => new Uint8Array(n)");
            ITypedArray<byte> Bytes(byte[] data)
            {
                var array = (ITypedArray<byte>)newBytes.Invoke(false, data.Length);
                array.WriteBytes(data, 0, (ulong)data.Length, 0);
                return array;
            }
            var shims = (ScriptObject)((ScriptObject)engine.Evaluate(new DocumentInfo("airlock:pyodide-shims"), Shims))
                .Invoke(false, Bytes(RandomNumberGenerator.GetBytes(32)));
            shims.InvokeMethod("putBytes", Index + "pyodide.asm.wasm", Bytes(_wasm));
            var snapshot = _useSnapshot ? _snapshot : null;
            if (snapshot is null)
            {
                shims.InvokeMethod("putBytes", Index + "python_stdlib.zip", Bytes(_stdlib));
            }
            var create = engine.Evaluate(new DocumentInfo("pyodide.asm.mjs"), _asm);
            var loader = engine.Evaluate(new DocumentInfo("pyodide.js"), _loader);
            var state = (ScriptObject)((ScriptObject)engine.Evaluate(new DocumentInfo("airlock:pyodide-boot"), Boot)).Invoke(false,
                loader, create, _lock, snapshot is null ? Undefined.Value : Bytes(snapshot), _useSnapshot && snapshot is null, console);
            var deadline = Stopwatch.StartNew();
            while (state.GetProperty("done") is not true)
            {
                var pending = Convert.ToInt32(shims.InvokeMethod("runTimers", false), System.Globalization.CultureInfo.InvariantCulture);
                if (deadline.Elapsed > TimeSpan.FromSeconds(60))
                {
                    throw new TimeoutException("loading Pyodide took more than 60 s");
                }
                if (state.GetProperty("done") is not true)
                {
                    Thread.Sleep(pending > 0 ? 0 : 1);
                }
            }
            if (state.GetProperty("error") is string error)
            {
                throw new InvalidOperationException("loading Pyodide failed: " + error);
            }
            if (_useSnapshot && snapshot is null && state.GetProperty("snapshot") is ITypedArray<byte> made)
            {
                _snapshot = made.ToArray();
            }
            shims.InvokeMethod("clearTimers");
            shims.InvokeMethod("seal");
            console.InvokeMethod("reset");
            var run = (ScriptObject)state.GetProperty("run");
            state.InvokeMethod("forget");
            return new Spare(engine, console, shims, run);
        }
        catch
        {
            engine.Dispose();
            throw;
        }
    }
}
