using System.Text.RegularExpressions;

namespace Airlock.Screening.Rules;

/// <summary>Terminal control: escape sequences can recolour, hide (SGR 8), retitle, hyperlink (OSC 8) or erase what
/// a user sees in a terminal while the model reads the raw bytes; a bare carriage return overwrites the line before
/// it. Tab, newline and CR LF are kept.</summary>
internal static partial class AnsiEscapes
{
    [GeneratedRegex(
        @"\x1B(?:\[[0-?]*[ -/]*[@-~]" +                 // CSI
        @"|\][^\x07\x1B\x9C]*(?:\x07|\x1B\\|\x9C)?" +   // OSC (title, hyperlink, clipboard)
        @"|[PX^_][^\x1B\x9C]*(?:\x1B\\|\x9C)?" +        // DCS, SOS, PM, APC
        @"|[ -/]*[0-~])?" +                             // two-character and nF escapes; a lone ESC
        @"|\x9B[0-?]*[ -/]*[@-~]" +                     // 8-bit CSI
        @"|[\x90\x98\x9D\x9E\x9F][^\x07\x1B\x9C]*(?:\x07|\x1B\\|\x9C)?" + // 8-bit string controls
        @"|[\x00-\x08\x0B\x0C\x0E-\x1A\x1C-\x1F\x7F-\x9F]+" + // other C0/C1 controls
        @"|\r(?!\n)")]
    private static partial Regex Pattern();

    public static void Find(string text, List<Hit> hits)
    {
        foreach (Match m in Pattern().Matches(text))
        {
            var bareCr = m.Value == "\r";
            hits.Add(new(
                FindingCodes.AnsiEscape,
                bareCr || m.Value[0] is not ('\x1B' or '\x9B') ? Severity.Low : Severity.Medium,
                m.Index,
                m.Length,
                bareCr ? "\n" : "",
                bareCr ? "carriage return that overwrites the line before it" : "terminal escape sequence or control character"));
        }
    }
}
