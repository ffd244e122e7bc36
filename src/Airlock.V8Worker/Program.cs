using System.Text;
using System.Text.Json;
using Airlock.V8Worker;
using Airlock.V8Worker.Protocol;

// The v8 class's worker process. It runs untrusted JavaScript (or Python on Pyodide) in V8, one execution at a time,
// each in a fresh isolate prepared ahead of time, and is meant to run inside the jail the backend builds (bubblewrap,
// no network, read-only binds of itself and the Pyodide files, a memory cgroup): a script can abort this process,
// never the host. Protocol: one JSON request per stdin line, JSON messages on stdout (see WorkerProtocol.cs); stderr
// is diagnostics only.
//   dotnet Airlock.V8Worker.dll --lang js|python [--pyodide DIR] [--max-heap-mb N] [--no-snapshot]
var lang = WorkerLanguages.JavaScript;
string? pyodideDir = null;
var maxHeapMb = 512;
var snapshot = true;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--lang": lang = args[++i]; break;
        case "--pyodide": pyodideDir = args[++i]; break;
        case "--max-heap-mb": maxHeapMb = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
        case "--no-snapshot": snapshot = false; break;
        default: Console.Error.WriteLine($"v8worker: unknown argument {args[i]}"); return 2;
    }
}

var stdout = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
void Send(WorkerMessage m) => stdout.WriteLine(JsonSerializer.Serialize(m, WorkerJsonContext.Default.WorkerMessage));

IRunner runner;
try
{
    runner = lang switch
    {
        WorkerLanguages.JavaScript => new JsRunner(maxHeapMb),
        WorkerLanguages.Python => new PythonRunner(pyodideDir ?? throw new ArgumentException("--pyodide DIR is required for python"), maxHeapMb, snapshot),
        _ => throw new ArgumentException($"unknown language '{lang}'"),
    };
    var prep = runner.Prepare();
    Send(new WorkerMessage { Type = WorkerMessage.Ready, Detail = $"{prep.TotalMilliseconds:F1}ms" });
}
catch (Exception e)
{
    Send(new WorkerMessage { Type = WorkerMessage.Fatal, Detail = e.Message });
    return 1;
}

using var stdin = new StreamReader(Console.OpenStandardInput(), new UTF8Encoding(false));
while (stdin.ReadLine() is { } line)
{
    if (line.Length == 0)
    {
        continue;
    }
    var request = JsonSerializer.Deserialize(line, WorkerJsonContext.Default.WorkerRequest)!;
    Send(runner.Run(request));
    try
    {
        var prep = runner.Prepare();
        Send(new WorkerMessage { Type = WorkerMessage.Ready, Detail = $"{prep.TotalMilliseconds:F1}ms" });
    }
    catch (Exception e)
    {
        Send(new WorkerMessage { Type = WorkerMessage.Fatal, Detail = e.Message });
        return 1;
    }
}
return 0;
