using System.Diagnostics;

namespace Airlock.Core.Util;

/// <summary>With <c>AIRLOCK_TRACE=1</c>, prints how long each phase of a command took (milliseconds since the process
/// started measuring) to stderr — for finding where start-up time goes. Off, it costs one branch.</summary>
public static class PhaseTrace
{
    private static readonly bool Enabled = Environment.GetEnvironmentVariable("AIRLOCK_TRACE") == "1";
    private static readonly Stopwatch Clock = Stopwatch.StartNew();

    public static void Mark(string phase)
    {
        if (Enabled)
        {
            Console.Error.WriteLine($"airlock: trace {Clock.Elapsed.TotalMilliseconds,8:F2} ms  {phase}");
        }
    }
}
