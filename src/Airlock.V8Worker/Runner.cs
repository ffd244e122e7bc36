using System.Diagnostics;
using System.Reflection;
using System.Text;
using Airlock.V8Worker.Protocol;
using Microsoft.ClearScript;
using Microsoft.ClearScript.V8;

namespace Airlock.V8Worker;

/// <summary>One language's executions: <see cref="Prepare"/> readies a fresh engine before the request arrives, and
/// <see cref="Run"/> uses it once and throws it away.</summary>
internal interface IRunner
{
    TimeSpan Prepare();

    WorkerMessage Run(WorkerRequest request);
}

/// <summary>What both languages share: the fresh-engine recipe, the console prelude, the timeout interrupt and the
/// mapping of ClearScript's exceptions to exit codes and kill reasons.</summary>
internal abstract class RunnerBase
{
    protected const string KilledTimeout = "timeout";
    protected const string KilledMemory = "memory";
    protected const string KilledOutput = "output-limit";

    protected static string Resource(string name)
    {
        using var s = Assembly.GetExecutingAssembly().GetManifestResourceStream("Airlock.V8Worker.Scripts." + name)
            ?? throw new InvalidOperationException($"missing resource {name}");
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }

    private static readonly string Prelude = Resource("prelude.js");

    /// <summary>A new isolate (its own V8 runtime and heap) with nothing but ECMAScript and the prelude's console.
    /// The hard heap bound is V8's own (exceeding it aborts the process, which the host survives); the per-request
    /// limit is ClearScript's sampled one, which ends the script with an exception first in all but sudden
    /// allocations.</summary>
    protected static (V8ScriptEngine Engine, ScriptObject Console) NewEngine(int maxHeapMb)
    {
        var constraints = new V8RuntimeConstraints
        {
            MaxOldSpaceSize = maxHeapMb,
            MaxNewSpaceSize = Math.Min(32, Math.Max(4, maxHeapMb / 16)),
        };
        var engine = new V8ScriptEngine(constraints, V8ScriptEngineFlags.None)
        {
            AllowReflection = false,
            EnableAutoHostVariables = false,
            RuntimeHeapSizeSampleInterval = TimeSpan.FromMilliseconds(5),
        };
        engine.DocumentSettings.AccessFlags = DocumentAccessFlags.None;
        var console = (ScriptObject)engine.Evaluate(new DocumentInfo("airlock:prelude"), Prelude);
        return (engine, console);
    }

    /// <summary>Runs <paramref name="body"/> with an interrupt armed at the timeout and the heap limit set; classifies
    /// how it ended. <paramref name="body"/> returns the exit code of a normal end.</summary>
    protected static WorkerMessage Execute(V8ScriptEngine engine, ScriptObject console, WorkerRequest request, bool binaryOutput, Func<int> body)
    {
        var sw = Stopwatch.StartNew();
        var timedOut = 0;
        engine.MaxRuntimeHeapSize = (UIntPtr)(ulong)Math.Max(request.HeapBytes, 1 << 20);
        console.InvokeMethod("setLimit", (double)request.OutputLimit);
        int exit;
        string? killed = null;
        string? error = null;
        using (var timer = new Timer(_ =>
        {
            Volatile.Write(ref timedOut, 1);
            engine.Interrupt();
        }, null, request.TimeoutMs, Timeout.Infinite))
        {
            try
            {
                exit = body();
            }
            catch (ScriptInterruptedException)
            {
                exit = 137;
            }
            catch (ScriptEngineException e)
            {
                exit = 1;
                if (e.Message.Contains("exceeded its memory limit", StringComparison.OrdinalIgnoreCase)
                    || e.Message.Contains("out of memory", StringComparison.OrdinalIgnoreCase))
                {
                    killed = KilledMemory;
                }
                else if (e.ScriptException is ScriptObject so && so.GetProperty("name") as string == "OutputLimit")
                {
                    killed = KilledOutput;
                }
                else
                {
                    error = string.IsNullOrEmpty(e.ErrorDetails) ? e.Message : e.ErrorDetails;
                }
            }
            // Wait out a timer callback in flight so it cannot interrupt the drain below after we looked.
            using var done = new ManualResetEvent(false);
            timer.Dispose(done);
            done.WaitOne();
        }
        if (Volatile.Read(ref timedOut) == 1 && killed is null && exit != 0)
        {
            killed = KilledTimeout;
        }
        else if (exit == 137 && killed is null)
        {
            // Interrupted without the timer: ClearScript's heap monitor interrupts too.
            killed = KilledMemory;
        }
        // The drain runs with fresh limits: after a timeout the engine is interrupted no more, and the prelude's
        // captured intrinsics do not run user code.
        string outText, errText;
        bool over;
        try
        {
            engine.CancelInterrupt();
            outText = (string)console.InvokeMethod("takeOut");
            errText = (string)console.InvokeMethod("takeErr");
            over = console.InvokeMethod("over") is true;
        }
        catch (ScriptEngineException)
        {
            outText = errText = "";
            over = false;
        }
        if (over && killed is null)
        {
            killed = KilledOutput;
        }
        if (killed is null && error is not null)
        {
            errText += error.EndsWith('\n') ? error : error + "\n";
        }
        if (killed is not null)
        {
            exit = 137;
        }
        var encoding = binaryOutput ? Encoding.Latin1 : Encoding.UTF8;
        var outBytes = encoding.GetBytes(outText);
        var errBytes = encoding.GetBytes(errText);
        var truncated = over;
        var limit = request.OutputLimit;
        if (outBytes.Length + errBytes.Length > limit)
        {
            truncated = true;
            killed ??= KilledOutput;
            exit = 137;
            if (outBytes.Length > limit)
            {
                outBytes = outBytes[..(int)limit];
            }
            var room = (int)Math.Max(0, limit - outBytes.Length);
            if (errBytes.Length > room)
            {
                errBytes = errBytes[..room];
            }
        }
        return new WorkerMessage
        {
            Type = WorkerMessage.Result,
            Id = request.Id,
            ExitCode = exit,
            Killed = killed,
            Stdout = outBytes,
            Stderr = errBytes,
            Truncated = truncated,
            DurationMs = sw.ElapsedMilliseconds,
        };
    }
}

/// <summary>JavaScript: each request is a classic script in a brand-new isolate. Exit 0 when it completes, 1 with
/// the uncaught exception's stack on stderr, 137 with a kill reason when interrupted.</summary>
internal sealed class JsRunner(int maxHeapMb) : RunnerBase, IRunner
{
    private (V8ScriptEngine Engine, ScriptObject Console)? _spare;

    public TimeSpan Prepare()
    {
        var sw = Stopwatch.StartNew();
        _spare ??= NewEngine(maxHeapMb);
        return sw.Elapsed;
    }

    public WorkerMessage Run(WorkerRequest request)
    {
        var (engine, console) = _spare ?? NewEngine(maxHeapMb);
        _spare = null;
        try
        {
            return Execute(engine, console, request, binaryOutput: false, () =>
            {
                engine.Execute(new DocumentInfo("main.js"), request.Code);
                return 0;
            });
        }
        finally
        {
            engine.Dispose();
        }
    }
}
