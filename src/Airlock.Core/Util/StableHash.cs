using System.Text;

namespace Airlock.Core.Util;

/// <summary>A short, stable (across processes and machines) name for a string — FNV-1a, 64 bits — for naming
/// directories and cgroups after paths. Not for security: a cryptographic hash would load libcrypto into every
/// CLI start for nothing.</summary>
public static class StableHash
{
    public static string Hex(string text)
    {
        var hash = 0xcbf29ce484222325UL;
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            hash = (hash ^ b) * 0x100000001b3UL;
        }
        return hash.ToString("x16", System.Globalization.CultureInfo.InvariantCulture);
    }
}
