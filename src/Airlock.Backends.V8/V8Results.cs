namespace Airlock.Backends.V8;

/// <summary>Kill reasons only the v8 class reports, next to <see cref="Airlock.Guest.Protocol.KillReasons"/>.</summary>
public static class V8KillReasons
{
    /// <summary>The worker process running the exec died for a reason other than memory (a V8 fatal error, a crash,
    /// a kill from outside). The worker was replaced; only this exec failed.</summary>
    public const string WorkerCrashed = "worker-crashed";
}

/// <summary>The languages of the v8 class, as <c>ExecSpec.Argv[0]</c>.</summary>
public static class V8Languages
{
    /// <summary>ECMAScript (a classic script) in a fresh V8 isolate.</summary>
    public const string JavaScript = "js";

    /// <summary>Python 3 on Pyodide (CPython compiled to WebAssembly) in a fresh V8 isolate.</summary>
    public const string Python = "python";
}

/// <summary>One live worker process, for <c>airlock doctor</c> and benchmarks.</summary>
/// <param name="Language"><c>js</c> or <c>python</c>.</param>
/// <param name="Pid">Host pid of the worker's jail (bubblewrap).</param>
/// <param name="MemoryBytes">What the worker's cgroup is charged now (0 when not jailed).</param>
public sealed record V8WorkerInfo(string Language, int Pid, long MemoryBytes);
