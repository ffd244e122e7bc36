using System.Globalization;

namespace Airlock.Core.Util;

/// <summary>Parses sizes in Kubernetes quantity style (<c>512Mi</c>, <c>1G</c>, <c>4096</c>) and durations
/// (<c>500ms</c>, <c>10s</c>, <c>2m</c>, <c>1h</c>).</summary>
public static class Quantity
{
    private static readonly (string Suffix, long Factor)[] SizeSuffixes =
    [
        ("Ki", 1L << 10), ("Mi", 1L << 20), ("Gi", 1L << 30), ("Ti", 1L << 40),
        ("k", 1000), ("K", 1000), ("M", 1000_000), ("G", 1000_000_000), ("T", 1000_000_000_000),
    ];

    public static bool TryParseBytes(string? text, out long bytes)
    {
        bytes = 0;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }
        var s = text.Trim();
        long factor = 1;
        foreach (var (suffix, f) in SizeSuffixes)
        {
            if (s.EndsWith(suffix, StringComparison.Ordinal))
            {
                factor = f;
                s = s[..^suffix.Length];
                break;
            }
        }
        if (!decimal.TryParse(s, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n) || n < 0)
        {
            return false;
        }
        var total = n * factor;
        if (total > long.MaxValue)
        {
            return false;
        }
        bytes = (long)total;
        return true;
    }

    public static long ParseBytes(string text) =>
        TryParseBytes(text, out var b) ? b : throw new FormatException($"'{text}' is not a size such as 256Mi or 1G");

    public static bool TryParseDuration(string? text, out TimeSpan duration)
    {
        duration = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }
        var s = text.Trim();
        (string Suffix, double Ms)[] units = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)];
        foreach (var (suffix, ms) in units)
        {
            if (s.EndsWith(suffix, StringComparison.Ordinal)
                && double.TryParse(s[..^suffix.Length], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n)
                && n >= 0 && !double.IsInfinity(n))
            {
                duration = TimeSpan.FromMilliseconds(n * ms);
                return true;
            }
        }
        return false;
    }

    public static TimeSpan ParseDuration(string text) =>
        TryParseDuration(text, out var d) ? d : throw new FormatException($"'{text}' is not a duration such as 500ms, 10s or 2m");

    public static string FormatBytes(long bytes) => bytes switch
    {
        >= 1L << 30 when bytes % (1L << 30) == 0 => $"{bytes >> 30}Gi",
        >= 1L << 20 when bytes % (1L << 20) == 0 => $"{bytes >> 20}Mi",
        >= 1L << 10 when bytes % (1L << 10) == 0 => $"{bytes >> 10}Ki",
        _ => bytes.ToString(CultureInfo.InvariantCulture),
    };
}
