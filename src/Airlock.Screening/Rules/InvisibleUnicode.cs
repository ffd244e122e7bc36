using System.Globalization;
using System.Text;

namespace Airlock.Screening.Rules;

/// <summary>
/// Characters a human does not see but a model reads. Removed: every format (Cf), private-use (Co), unassigned (Cn)
/// and lone surrogate code point, runs of two or more variation selectors (one is how emoji choose their
/// presentation; a run is how bytes are smuggled) and Hangul fillers (letters that render blank). Kept, because
/// ordinary text needs them: tab, newline and every space separator (Zs); a zero-width joiner between two emoji
/// (👩‍💻); a zero-width joiner or non-joiner between two non-ASCII letters (Persian, Indic scripts); a subdivision
/// flag's tag sequence (🏴 + tags + cancel tag); the Arabic prepended concatenation marks, which are visible.
/// Bidi marks (LRM, RLM, ALM) are removed with the overrides and isolates: plain RTL text does not need them, and
/// they are a small price against Trojan Source reordering.
/// </summary>
internal static class InvisibleUnicode
{
    public static void Find(string text, List<Hit> hits)
    {
        var i = 0;
        while (i < text.Length)
        {
            var flagTags = FlagTagSequenceLength(text, i);
            if (flagTags > 0)
            {
                i += flagTags;
                continue;
            }
            if (!IsHiddenAt(text, i, out var width, out var severity))
            {
                i += width;
                continue;
            }
            var start = i;
            var worst = severity;
            i += width;
            while (i < text.Length && IsHiddenAt(text, i, out width, out severity))
            {
                worst = severity > worst ? severity : worst;
                i += width;
            }
            hits.Add(new(FindingCodes.InvisibleUnicode, worst, start, i - start, "", Describe(text, start, i - start)));
        }
    }

    private static bool IsHiddenAt(string text, int i, out int width, out Severity severity)
    {
        severity = Severity.Low;
        if (Rune.DecodeFromUtf16(text.AsSpan(i), out var rune, out width) != System.Buffers.OperationStatus.Done)
        {
            width = 1; // lone surrogate: no character at all
            severity = Severity.Medium;
            return true;
        }
        var v = rune.Value;
        if (IsVariationSelector(v))
        {
            // One selector after a visible base picks a glyph; a run, or one with no base, carries data.
            var prevIsBase = i > 0 && !IsVariationSelector(PrevRune(text, i).Value) && !char.IsWhiteSpace(text[i - 1]);
            var nextIsSelector = i + width < text.Length && Rune.DecodeFromUtf16(text.AsSpan(i + width), out var next, out _) == System.Buffers.OperationStatus.Done && IsVariationSelector(next.Value);
            var prevIsSelector = i > 0 && IsVariationSelector(PrevRune(text, i).Value);
            severity = Severity.High;
            return !prevIsBase || nextIsSelector || prevIsSelector;
        }
        if (IsFiller(v))
        {
            severity = Severity.Medium;
            return true;
        }
        var category = Rune.GetUnicodeCategory(rune);
        if (category is not (UnicodeCategory.Format or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned))
        {
            return false;
        }
        if (v is >= 0x0600 and <= 0x0605 or 0x06DD or 0x070F or 0x0890 or 0x0891 or 0x08E2 or 0x110BD or 0x110CD)
        {
            return false; // prepended concatenation marks render visibly
        }
        if (v is 0x200D or 0x200C && IsJoinerInContext(text, i, width, v))
        {
            return false;
        }
        severity = v switch
        {
            >= 0xE0000 and <= 0xE007F => Severity.High, // tags: ASCII the model reads and the user cannot see
            >= 0x202A and <= 0x202E or >= 0x2066 and <= 0x2069 => Severity.High, // bidi overrides and isolates
            0x200B or 0x200C or 0x200D or 0x2060 or 0xFEFF or 0x180E => Severity.Medium,
            _ => category == UnicodeCategory.Format ? Severity.Medium : Severity.Low,
        };
        return true;
    }

    private static bool IsJoinerInContext(string text, int i, int width, int joiner)
    {
        if (i == 0 || i + width >= text.Length)
        {
            return false;
        }
        var prev = PrevRune(text, i);
        if (Rune.DecodeFromUtf16(text.AsSpan(i + width), out var next, out _) != System.Buffers.OperationStatus.Done)
        {
            return false;
        }
        var pc = Rune.GetUnicodeCategory(prev);
        var nc = Rune.GetUnicodeCategory(next);
        if (joiner == 0x200D && nc == UnicodeCategory.OtherSymbol
            && (pc is UnicodeCategory.OtherSymbol or UnicodeCategory.ModifierSymbol || prev.Value == 0xFE0F))
        {
            return true; // emoji ZWJ sequence
        }
        static bool ComplexLetter(Rune r, UnicodeCategory c) => r.Value > 0x7F
            && c is UnicodeCategory.OtherLetter or UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark
                or UnicodeCategory.LowercaseLetter or UnicodeCategory.UppercaseLetter;
        return ComplexLetter(prev, pc) && ComplexLetter(next, nc);
    }

    /// <summary>Length of 🏴 + 2–6 tag letters/digits + cancel tag starting at <paramref name="i"/>, or 0.</summary>
    private static int FlagTagSequenceLength(string text, int i)
    {
        if (i + 1 >= text.Length || CodePointAt(text, i) != 0x1F3F4)
        {
            return 0;
        }
        var j = i + 2;
        var n = 0;
        while (j + 1 < text.Length)
        {
            var v = CodePointAt(text, j);
            if (v == 0xE007F && n is >= 2 and <= 6)
            {
                return j + 2 - i;
            }
            if (v is not (>= 0xE0030 and <= 0xE0039 or >= 0xE0061 and <= 0xE007A))
            {
                return 0;
            }
            n++;
            j += 2;
        }
        return 0;
    }

    private static int CodePointAt(string text, int i) =>
        char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])
            ? char.ConvertToUtf32(text[i], text[i + 1])
            : text[i];

    private static Rune PrevRune(string text, int i) =>
        Rune.DecodeLastFromUtf16(text.AsSpan(0, i), out var r, out _) == System.Buffers.OperationStatus.Done ? r : Rune.ReplacementChar;

    public static bool IsVariationSelector(int v) => v is >= 0xFE00 and <= 0xFE0F or >= 0xE0100 and <= 0xE01EF;

    public static bool IsFiller(int v) => v is 0x115F or 0x1160 or 0x3164 or 0xFFA0;

    private static string Describe(string text, int start, int length)
    {
        var kinds = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var rune in text.AsSpan(start, length).EnumerateRunes())
        {
            kinds.Add(rune.Value switch
            {
                >= 0xE0000 and <= 0xE007F => "Unicode tag characters",
                >= 0x202A and <= 0x202E or >= 0x2066 and <= 0x2069 or 0x200E or 0x200F or 0x061C => "bidi controls",
                0x200B or 0x200C or 0x200D or 0x2060 or 0xFEFF => "zero-width characters",
                _ when IsVariationSelector(rune.Value) => "variation selectors",
                _ when IsFiller(rune.Value) => "Hangul fillers",
                0xFFFD => "lone surrogates",
                _ => Rune.GetUnicodeCategory(rune) switch
                {
                    UnicodeCategory.PrivateUse => "private-use characters",
                    UnicodeCategory.OtherNotAssigned => "unassigned code points",
                    _ => "invisible format characters",
                },
            });
        }
        return $"{length} UTF-16 units of {string.Join(", ", kinds)}";
    }
}
