using System.Text;

namespace Airlock.Screening.Rules;

internal static class TextEdits
{
    /// <summary>Applies replacements given in original coordinates. Where spans overlap, the one that starts first
    /// (the longest, on a tie) wins and the text under both is replaced by its replacement, so hidden content under
    /// two findings is never half-kept.</summary>
    public static string Apply(string text, IEnumerable<(int Start, int Length, string Replacement)> edits)
    {
        var sorted = edits.OrderBy(e => e.Start).ThenByDescending(e => e.Length).ToList();
        if (sorted.Count == 0)
        {
            return text;
        }
        var sb = new StringBuilder(text.Length);
        var cursor = 0;
        foreach (var (start, length, replacement) in sorted)
        {
            var end = start + length;
            if (end <= cursor && start < cursor)
            {
                continue; // inside an edit already applied
            }
            if (start < cursor)
            {
                cursor = end; // overlaps the previous edit's tail: extend it
                continue;
            }
            sb.Append(text, cursor, start - cursor).Append(replacement);
            cursor = end;
        }
        sb.Append(text, cursor, text.Length - cursor);
        return sb.ToString();
    }

    /// <summary>Printable form of a span: invisible and control characters as <c>\u{XXXX}</c>, Unicode tag runs also
    /// decoded (<c>⟨tags: …⟩</c>), capped at <paramref name="max"/> characters.</summary>
    public static string Excerpt(string text, int start, int length, int max = 120)
    {
        var span = text.AsSpan(start, length);
        var sb = new StringBuilder();
        var tags = new StringBuilder();
        void FlushTags()
        {
            if (tags.Length > 0)
            {
                sb.Append("⟨tags: ").Append(tags).Append('⟩');
                tags.Clear();
            }
        }
        foreach (var rune in span.EnumerateRunes())
        {
            if (rune.Value is >= 0xE0020 and <= 0xE007E)
            {
                tags.Append((char)(rune.Value - 0xE0000));
                continue;
            }
            FlushTags();
            if (rune.Value is '\n' or '\t' || !IsUnprintable(rune))
            {
                sb.Append(rune.ToString());
            }
            else
            {
                sb.Append("\\u{").Append(rune.Value.ToString("X4", System.Globalization.CultureInfo.InvariantCulture)).Append('}');
            }
            if (sb.Length > max)
            {
                break;
            }
        }
        FlushTags();
        return sb.Length > max ? sb.ToString(0, max) + "…" : sb.ToString();
    }

    private static bool IsUnprintable(Rune r) => System.Text.Rune.GetUnicodeCategory(r) switch
    {
        System.Globalization.UnicodeCategory.Control or System.Globalization.UnicodeCategory.Format
            or System.Globalization.UnicodeCategory.PrivateUse or System.Globalization.UnicodeCategory.OtherNotAssigned
            or System.Globalization.UnicodeCategory.Surrogate => true,
        _ => InvisibleUnicode.IsVariationSelector(r.Value) || InvisibleUnicode.IsFiller(r.Value),
    };
}
