using System.Text.Json;
using System.Text.Json.Serialization;

namespace Airlock.V8Worker.Protocol;

/// <summary>Languages a worker serves; one per worker process, fixed at its start (<c>--lang</c>).</summary>
public static class WorkerLanguages
{
    public const string JavaScript = "js";
    public const string Python = "python";
}

/// <summary>One execution, host to worker: one line of JSON on the worker's stdin.</summary>
/// <param name="Id">Echoed in the result.</param>
/// <param name="Code">Source to run: a classic script (js) or a module body (python).</param>
/// <param name="TimeoutMs">Wall-clock limit; the worker interrupts the engine when it passes.</param>
/// <param name="HeapBytes">V8 heap limit of this execution (ClearScript's sampled runtime heap limit).</param>
/// <param name="OutputLimit">Cap on stdout plus stderr, in bytes.</param>
public sealed record WorkerRequest(long Id, string Code, int TimeoutMs, long HeapBytes, long OutputLimit);

/// <summary>Worker to host, one line of JSON on the worker's stdout. <c>ready</c> says the worker has a fresh engine
/// (and, for python, a loaded interpreter) waiting and will start the next request at once; <c>result</c> ends one
/// request; <c>fatal</c> says the worker cannot serve at all (then it exits).</summary>
public sealed record WorkerMessage
{
    public const string Ready = "ready";
    public const string Result = "result";
    public const string Fatal = "fatal";

    public required string Type { get; init; }
    public long Id { get; init; }
    public int ExitCode { get; init; }
    public string? Killed { get; init; }
    public byte[]? Stdout { get; init; }
    public byte[]? Stderr { get; init; }
    public bool Truncated { get; init; }
    public long DurationMs { get; init; }

    /// <summary>ready: how long preparing the engine took; fatal: why the worker gave up.</summary>
    public string? Detail { get; init; }
}

/// <summary>Serializer settings of both ends: source-generated, so the NativeAOT CLI can host the backend.</summary>
public static class WorkerJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        TypeInfoResolver = WorkerJsonContext.Default,
    };
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(WorkerRequest))]
[JsonSerializable(typeof(WorkerMessage))]
internal sealed partial class WorkerJsonContext : JsonSerializerContext;
