using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Airlock.Backends.Oci.Cgroups;
using Airlock.V8Worker.Protocol;

namespace Airlock.Backends.V8.Workers;

/// <summary>How a worker ended the one execution it was running when it died.</summary>
internal sealed class WorkerDiedException(string reason, string detail) : Exception(detail)
{
    /// <summary><c>memory</c> when the cgroup limit or V8's hard heap limit was reached, else <c>worker-crashed</c>.</summary>
    public string Reason => reason;
}

/// <summary>
/// One worker process: started through <see cref="WorkerJail"/>, spoken to in line JSON, serving one execution at a
/// time. A reader task turns its stdout into events: <c>ready</c> hands it back to its pool, <c>result</c> completes
/// the execution in flight, end of stream (the worker died) fails that execution with the reason read from the
/// cgroup and the worker's last words on stderr.
/// </summary>
internal sealed class WorkerProcess : IDisposable
{
    private const int StderrTailChars = 4096;
    private readonly Process _process;
    private readonly WorkerCgroup? _cgroup;
    private readonly Action<WorkerProcess> _onReady;
    private readonly Action<WorkerProcess> _onExit;
    private readonly StringBuilder _stderrTail = new();
    private readonly TaskCompletionSource _firstReady = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource<WorkerMessage>? _pending;
    private long _nextId;
    private int _disposed;

    public WorkerProcess(string language, WorkerJail jail, Action<WorkerProcess> onReady, Action<WorkerProcess> onExit)
    {
        Language = language;
        _onReady = onReady;
        _onExit = onExit;
        (_process, _cgroup) = jail.Start(language);
        Pid = _process.Id;
        _ = Task.Run(ReadStdoutAsync);
        _ = Task.Run(ReadStderrAsync);
    }

    public string Language { get; }

    public int Pid { get; }

    public bool Alive => Volatile.Read(ref _disposed) == 0 && !_process.HasExited;

    /// <summary>Completes when the worker first says ready; fails when it dies or gives up before.</summary>
    public Task FirstReady => _firstReady.Task;

    /// <summary>Bytes the worker's cgroup charges (0 without a jail).</summary>
    public long MemoryBytes => _cgroup?.MemoryUsageBytes() ?? 0;

    /// <summary>Sends one request; the task ends with the worker's result, or throws
    /// <see cref="WorkerDiedException"/>.</summary>
    public Task<WorkerMessage> RunAsync(string code, TimeSpan timeout, long heapBytes, long outputLimit)
    {
        var tcs = new TaskCompletionSource<WorkerMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Interlocked.CompareExchange(ref _pending, tcs, null) is not null)
        {
            throw new InvalidOperationException("worker is busy");
        }
        _cgroup?.ResetMemoryPeak();
        var request = new WorkerRequest(Interlocked.Increment(ref _nextId), code,
            (int)Math.Clamp(timeout.TotalMilliseconds, 1, int.MaxValue), heapBytes, outputLimit);
        try
        {
            lock (_process)
            {
                _process.StandardInput.WriteLine(JsonSerializer.Serialize(request, WorkerJsonContext.Default.WorkerRequest));
                _process.StandardInput.Flush();
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The reader reports the death; the pending execution fails there.
        }
        return tcs.Task;
    }

    /// <summary>Kills the worker (a wedged one, or at shutdown); the execution in flight fails with
    /// <paramref name="reason"/>.</summary>
    public void Kill(string reason)
    {
        _killReason ??= reason;
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
        }
        // bwrap's children (in their own pid namespace) die with it (--die-with-parent); the cgroup catches the rest.
    }

    private string? _killReason;

    private async Task ReadStdoutAsync()
    {
        try
        {
            while (await _process.StandardOutput.ReadLineAsync().ConfigureAwait(false) is { } line)
            {
                WorkerMessage? m;
                try
                {
                    m = JsonSerializer.Deserialize(line, WorkerJsonContext.Default.WorkerMessage);
                }
                catch (JsonException)
                {
                    continue;
                }
                switch (m?.Type)
                {
                    case WorkerMessage.Ready:
                        _firstReady.TrySetResult();
                        _onReady(this);
                        break;
                    case WorkerMessage.Result:
                        Interlocked.Exchange(ref _pending, null)?.TrySetResult(m);
                        break;
                    case WorkerMessage.Fatal:
                        lock (_stderrTail)
                        {
                            _stderrTail.Append("worker: ").Append(m.Detail).Append('\n');
                        }
                        break;
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
        }
        await _process.WaitForExitAsync().ConfigureAwait(false);
        // Let the stderr reader catch the last lines (V8's fatal OOM report) before they are classified.
        await Task.Delay(20).ConfigureAwait(false);
        var (reason, detail) = Classify();
        _firstReady.TrySetException(new WorkerDiedException(reason, detail));
        Interlocked.Exchange(ref _pending, null)?.TrySetException(new WorkerDiedException(reason, detail));
        _onExit(this);
        Dispose();
    }

    private (string Reason, string Detail) Classify()
    {
        string tail;
        lock (_stderrTail)
        {
            tail = _stderrTail.ToString().Trim();
        }
        var code = _process.ExitCode;
        var memory = (_cgroup?.MemoryLimitReached() ?? false)
            || tail.Contains("out of memory", StringComparison.OrdinalIgnoreCase)
            || tail.Contains("heap limit", StringComparison.OrdinalIgnoreCase);
        var reason = _killReason ?? (memory ? "memory" : V8KillReasons.WorkerCrashed);
        var detail = $"the v8 worker (pid {Pid}) died with exit status {code}"
            + (memory ? " after reaching its memory limit" : "")
            + (tail.Length > 0 ? ": " + LastLines(tail, 3) : "");
        return (reason, detail);
    }

    private static string LastLines(string text, int n)
    {
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => l != "#" && !l.StartsWith("<---", StringComparison.Ordinal)).ToArray();
        return string.Join(" | ", lines.Skip(Math.Max(0, lines.Length - n)));
    }

    private async Task ReadStderrAsync()
    {
        var buffer = new char[4096];
        try
        {
            int n;
            while ((n = await _process.StandardError.ReadAsync(buffer).ConfigureAwait(false)) > 0)
            {
                lock (_stderrTail)
                {
                    _stderrTail.Append(buffer, 0, n);
                    if (_stderrTail.Length > StderrTailChars * 2)
                    {
                        _stderrTail.Remove(0, _stderrTail.Length - StderrTailChars);
                    }
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(2000);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
        }
        _cgroup?.Destroy();
        _process.Dispose();
    }
}
