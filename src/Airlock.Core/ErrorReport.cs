using Airlock.Core.Validation;

namespace Airlock.Core;

/// <summary>How every Airlock command reports an error: one line of cause (for bad input, then one line per field)
/// and one line of remedy, on standard error.</summary>
public static class ErrorReport
{
    public static void Write(AirlockException e, TextWriter w)
    {
        if (e is ValidationException v)
        {
            w.WriteLine($"airlock: error: {v.Message.Split(':')[0]}:");
            foreach (var err in v.Errors)
            {
                w.WriteLine($"  {err.Field}: {err.Reason}");
            }
        }
        else
        {
            w.WriteLine($"airlock: error: {e.Message}");
        }
        if (e.Remedy is not null)
        {
            w.WriteLine($"  remedy: {e.Remedy}");
        }
    }
}
