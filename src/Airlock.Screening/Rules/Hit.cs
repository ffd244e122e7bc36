namespace Airlock.Screening.Rules;

/// <summary>A rule's match, in the coordinates of the text the rule saw. <see cref="Replacement"/> is what the span
/// becomes when the policy strips it.</summary>
internal readonly record struct Hit(string Code, Severity Severity, int Start, int Length, string Replacement, string Message, string? Excerpt = null);

/// <summary>
/// A text with some spans removed, and for every remaining character its offset in the original. Later rules run on
/// the view (so "ig\u200Bnore previous instructions" is still caught) while findings and edits stay in the
/// coordinates of the text as received.
/// </summary>
internal sealed class TextView
{
    private readonly int[] map;

    public string Text { get; }

    public TextView(string original)
    {
        Text = original;
        map = new int[original.Length + 1];
        for (var i = 0; i <= original.Length; i++)
        {
            map[i] = i;
        }
    }

    private TextView(string text, int[] map)
    {
        Text = text;
        this.map = map;
    }

    /// <summary>The view without the given spans (view coordinates, may overlap).</summary>
    public TextView Without(IReadOnlyCollection<Hit> hits)
    {
        if (hits.Count == 0)
        {
            return this;
        }
        var remove = new bool[Text.Length];
        foreach (var h in hits)
        {
            for (var i = h.Start; i < h.Start + h.Length; i++)
            {
                remove[i] = true;
            }
        }
        var sb = new System.Text.StringBuilder(Text.Length);
        var newMap = new List<int>(Text.Length + 1);
        for (var i = 0; i < Text.Length; i++)
        {
            if (!remove[i])
            {
                sb.Append(Text[i]);
                newMap.Add(map[i]);
            }
        }
        newMap.Add(map[Text.Length]);
        return new TextView(sb.ToString(), [.. newMap]);
    }

    /// <summary>Maps a span of this view to the original text; it covers whatever was removed inside it.</summary>
    public (int Start, int Length) ToOriginal(int start, int length)
    {
        var s = map[start];
        var e = length == 0 ? s : map[start + length - 1] + 1;
        return (s, e - s);
    }
}
