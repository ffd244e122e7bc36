using Airlock.Core.Backends;

namespace Airlock.Backends.Wasm.Engine;

/// <summary>
/// The state of one running exec that other threads act on: the kill switch (timeout timer, output cap, cancellation,
/// sandbox teardown) and the pause gate (suspend). Killing sets the reason and bumps the engine's epoch; the store's
/// epoch callback, which runs on the exec's own thread at the next function entry or loop back-edge, sees the reason
/// and unwinds the module. A module blocked in <c>poll_oneoff</c> is woken through <see cref="WaitForKill"/>.
/// </summary>
internal sealed class ExecContext(Wasmtime.Engine engine, ExecIo io, long outputLimit, CancellationToken ct, PauseGate? pause)
{
    private readonly ManualResetEventSlim _killed = new(false);
    private string? _killReason;
    private long _outputBytes;

    public string? KillReason => Volatile.Read(ref _killReason);

    public long StdoutBytes { get; private set; }
    public long StderrBytes { get; private set; }
    public bool Truncated { get; private set; }

    /// <summary>First failure of an output consumer; the exec is killed and this is rethrown to the caller.</summary>
    public Exception? OutputFailure { get; private set; }

    /// <summary>Stops the exec at its next epoch check; the first reason wins.</summary>
    public void Kill(string reason)
    {
        if (Interlocked.CompareExchange(ref _killReason, reason, null) is null)
        {
            _killed.Set();
            engine.IncrementEpoch();
        }
    }

    public bool WaitForKill(TimeSpan timeout) => _killed.Wait(timeout);

    /// <summary>The store's epoch callback: unwind if killed, wait while the sandbox is suspended, else run one more
    /// tick.</summary>
    public ulong OnEpoch()
    {
        pause?.WaitWhilePaused(_killed);
        if (KillReason is not null)
        {
            throw new ExecKilledException(KillReason);
        }
        return 1;
    }

    public void OnStdout(ReadOnlySpan<byte> data) => Deliver(data, io.Stdout, stderr: false);

    public void OnStderr(ReadOnlySpan<byte> data) => Deliver(data, io.Stderr, stderr: true);

    /// <summary>Runs on a Wasmtime thread while the exec's thread waits, one write at a time. Bytes past the cap are
    /// dropped and the exec is killed, as the OCI class does.</summary>
    private void Deliver(ReadOnlySpan<byte> data, Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> sink, bool stderr)
    {
        if (KillReason is not null)
        {
            return;
        }
        var room = outputLimit > 0 ? outputLimit - _outputBytes : long.MaxValue;
        var take = (int)Math.Min(data.Length, room);
        if (take > 0)
        {
            _outputBytes += take;
            if (stderr)
            {
                StderrBytes += take;
            }
            else
            {
                StdoutBytes += take;
            }
            try
            {
                var pending = sink(data[..take].ToArray(), ct);
                if (!pending.IsCompletedSuccessfully)
                {
                    pending.AsTask().GetAwaiter().GetResult();
                }
            }
            catch (Exception e)
            {
                OutputFailure ??= e;
                Kill(Guest.Protocol.KillReasons.Signal);
                return;
            }
        }
        if (take < data.Length)
        {
            Truncated = true;
            Kill(Guest.Protocol.KillReasons.OutputLimit);
        }
    }
}

/// <summary>Thrown by the epoch callback to unwind a killed exec.</summary>
internal sealed class ExecKilledException(string reason) : Exception($"killed: {reason}")
{
    public string Reason { get; } = reason;
}

/// <summary>Holds running execs of a suspended sandbox at their next epoch check until it is resumed.</summary>
internal sealed class PauseGate
{
    private readonly ManualResetEventSlim _running = new(true);

    public bool Paused => !_running.IsSet;

    public void Pause() => _running.Reset();

    public void Resume() => _running.Set();

    public void WaitWhilePaused(ManualResetEventSlim killed)
    {
        while (!_running.IsSet && !killed.IsSet)
        {
            WaitHandle.WaitAny([_running.WaitHandle, killed.WaitHandle]);
        }
    }
}
