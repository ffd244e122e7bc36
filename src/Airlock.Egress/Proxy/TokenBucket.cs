using System.Diagnostics;

namespace Airlock.Egress.Proxy;

/// <summary>A token bucket shared by every connection of a sandbox: <paramref name="bytesPerSecond"/> refill, a burst
/// of a tenth of a second. Callers wait until their bytes are covered.</summary>
public sealed class TokenBucket(long bytesPerSecond)
{
    private readonly Lock _gate = new();
    private readonly double _burst = Math.Max(16 << 10, bytesPerSecond / 10.0);
    private double _tokens = Math.Max(16 << 10, bytesPerSecond / 10.0);
    private long _last = Stopwatch.GetTimestamp();

    public async ValueTask TakeAsync(int bytes, CancellationToken ct)
    {
        double wait;
        lock (_gate)
        {
            var now = Stopwatch.GetTimestamp();
            _tokens = Math.Min(_burst, _tokens + Stopwatch.GetElapsedTime(_last, now).TotalSeconds * bytesPerSecond);
            _last = now;
            // Debt is allowed: a large chunk waits for its whole cost, and later callers queue behind it.
            _tokens -= bytes;
            wait = _tokens < 0 ? -_tokens / bytesPerSecond : 0;
        }
        if (wait > 0)
        {
            await Task.Delay(TimeSpan.FromSeconds(wait), ct).ConfigureAwait(false);
        }
    }
}
