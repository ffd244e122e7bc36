using System.Threading.Channels;

namespace Airlock.Backends.V8.Workers;

/// <summary>
/// A fixed number of pre-started workers of one language. A worker that says ready is queued as idle; an execution
/// takes the first idle one that is still alive. A worker that dies is replaced at once (so a crash costs one
/// execution, never the pool), and one that keeps failing to start is not restarted in a tight loop.
/// </summary>
internal sealed class WorkerPool : IDisposable
{
    private readonly Func<Action<WorkerProcess>, Action<WorkerProcess>, WorkerProcess> _start;
    private readonly int _size;
    private readonly Channel<WorkerProcess> _idle = Channel.CreateUnbounded<WorkerProcess>();
    private readonly HashSet<WorkerProcess> _all = [];
    private int _started;
    private bool _disposed;
    private int _consecutiveFailures;
    private Exception? _lastStartError;

    public WorkerPool(int size, Func<Action<WorkerProcess>, Action<WorkerProcess>, WorkerProcess> start)
    {
        _size = Math.Max(1, size);
        _start = start;
    }

    /// <summary>Starts the workers (once); returns when all have said ready, or throws why the first could not.</summary>
    public async Task EnsureStartedAsync(CancellationToken ct)
    {
        if (Interlocked.Exchange(ref _started, 1) == 0)
        {
            for (var i = 0; i < _size; i++)
            {
                StartOne();
            }
        }
        WorkerProcess[] all;
        lock (_all)
        {
            all = [.. _all];
        }
        await Task.WhenAll(all.Select(w => w.FirstReady)).WaitAsync(ct).ConfigureAwait(false);
    }

    public IReadOnlyList<WorkerProcess> Workers
    {
        get
        {
            lock (_all)
            {
                return [.. _all];
            }
        }
    }

    /// <summary>Waits for an idle worker. Throws the start error when workers keep dying before they are ready.</summary>
    public async Task<WorkerProcess> RentAsync(CancellationToken ct)
    {
        if (Interlocked.Exchange(ref _started, 1) == 0)
        {
            for (var i = 0; i < _size; i++)
            {
                StartOne();
            }
        }
        while (true)
        {
            if (Volatile.Read(ref _consecutiveFailures) >= 3 && _lastStartError is { } error)
            {
                throw error;
            }
            using var poll = CancellationTokenSource.CreateLinkedTokenSource(ct);
            poll.CancelAfter(TimeSpan.FromMilliseconds(500));
            WorkerProcess worker;
            try
            {
                worker = await _idle.Reader.ReadAsync(poll.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                continue;
            }
            if (worker.Alive)
            {
                return worker;
            }
        }
    }

    private void StartOne()
    {
        lock (_all)
        {
            if (_disposed)
            {
                return;
            }
        }
        WorkerProcess worker;
        try
        {
            worker = _start(OnReady, OnExit);
        }
        catch (Exception e)
        {
            _lastStartError = e;
            Interlocked.Increment(ref _consecutiveFailures);
            return;
        }
        lock (_all)
        {
            _all.Add(worker);
        }
    }

    private void OnReady(WorkerProcess worker)
    {
        Interlocked.Exchange(ref _consecutiveFailures, 0);
        _idle.Writer.TryWrite(worker);
    }

    private void OnExit(WorkerProcess worker)
    {
        bool wasReady;
        lock (_all)
        {
            _all.Remove(worker);
            if (_disposed)
            {
                return;
            }
        }
        wasReady = worker.FirstReady.IsCompletedSuccessfully;
        if (!wasReady)
        {
            _lastStartError = worker.FirstReady.Exception?.InnerException;
            if (Interlocked.Increment(ref _consecutiveFailures) >= 3)
            {
                return;
            }
        }
        StartOne();
    }

    public void Dispose()
    {
        WorkerProcess[] all;
        lock (_all)
        {
            _disposed = true;
            all = [.. _all];
            _all.Clear();
        }
        _idle.Writer.TryComplete();
        foreach (var w in all)
        {
            w.Dispose();
        }
    }
}
