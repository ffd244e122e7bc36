using System.Text.RegularExpressions;

namespace Airlock.Screening.Rules;

/// <summary>Markup that a renderer hides and a model reads: comments, and elements hidden by style or attribute.
/// <c>&lt;details&gt;</c> is not hidden (its summary shows and a click opens it), nor are <c>&lt;script&gt;</c> and
/// <c>&lt;style&gt;</c>, which legitimately fill the HTML files a coding agent reads.</summary>
internal static partial class HiddenHtml
{
    [GeneratedRegex(@"<!--[\s\S]*?(?:--!?>|\z)")]
    private static partial Regex Comment();

    // The markdown "comment" idiom: a link reference definition nothing uses, with a # or <> target.
    [GeneratedRegex(@"^[ \t]{0,3}\[[^\]\n]*\]:[ \t]*(?:#|<>)(?:[ \t]+(?:\([^\n]*\)|""[^\n]*""|'[^\n]*'))?[ \t]*$", RegexOptions.Multiline)]
    private static partial Regex MarkdownComment();

    [GeneratedRegex(@"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[^\s""'>/=]+(?:\s*=\s*(?:""[^""]*""|'[^']*'|[^\s""'=<>`]+))?)*)\s*(/?)>")]
    private static partial Regex Tag();

    [GeneratedRegex(@"([^\s""'>/=]+)(?:\s*=\s*(?:""([^""]*)""|'([^']*)'|([^\s""'=<>`]+)))?")]
    private static partial Regex Attribute();

    [GeneratedRegex(
        @"(?:^|;)\s*(?:display\s*:\s*none|visibility\s*:\s*(?:hidden|collapse)" +
        @"|font-size\s*:\s*(?:0+(?:\.0*)?|\.0+)(?:[a-z%]+)?\s*(?:!important)?\s*(?:;|$)" +
        @"|opacity\s*:\s*(?:0+(?:\.0*)?|\.0+)%?\s*(?:!important)?\s*(?:;|$)" +
        @"|color\s*:\s*transparent" +
        @"|(?:text-indent|left|top|margin-left|margin-top)\s*:\s*-\d{3,}" +
        @"|clip(?:-path)?\s*:\s*(?:rect\(\s*0|inset\(\s*(?:50|100)%))",
        RegexOptions.IgnoreCase)]
    private static partial Regex HiddenStyle();

    [GeneratedRegex(@"(?:^|;)\s*(?:max-)?(?:height|width)\s*:\s*0(?:px)?\s*(?:!important)?\s*(?:;|$)", RegexOptions.IgnoreCase)]
    private static partial Regex ZeroSize();

    [GeneratedRegex(@"(?:^|;)\s*overflow\s*:\s*hidden", RegexOptions.IgnoreCase)]
    private static partial Regex OverflowHidden();

    [GeneratedRegex(@"(?:^|;)\s*(color|background-color|background)\s*:\s*([^;!]+)", RegexOptions.IgnoreCase)]
    private static partial Regex ColorDecl();

    private static readonly HashSet<string> VoidElements = new(StringComparer.OrdinalIgnoreCase)
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr",
    };

    public static void FindComments(string text, List<Hit> hits)
    {
        foreach (Match m in Comment().Matches(text))
        {
            hits.Add(new(FindingCodes.HtmlComment, Severity.Medium, m.Index, m.Length, "", "HTML comment: not rendered, read by the model"));
        }
        foreach (Match m in MarkdownComment().Matches(text))
        {
            hits.Add(new(FindingCodes.HtmlComment, Severity.Medium, m.Index, m.Length, "", "markdown comment (unused link reference): not rendered, read by the model"));
        }
    }

    public static void FindHiddenElements(string text, List<Hit> hits)
    {
        var at = 0;
        while (at < text.Length)
        {
            var m = Tag().Match(text, at);
            if (!m.Success)
            {
                return;
            }
            at = m.Index + m.Length;
            if (m.Groups[1].Length > 0 || HiddenBy(m.Groups[2].Value, m.Groups[3].Value) is not { } why)
            {
                continue;
            }
            var name = m.Groups[2].Value;
            var end = m.Groups[4].Length > 0 || VoidElements.Contains(name) ? at : ElementEnd(text, name, at);
            hits.Add(new(FindingCodes.HiddenHtml, Severity.High, m.Index, end - m.Index, "", $"<{name.ToLowerInvariant()}> hidden by {why}"));
            at = end;
        }
    }

    /// <summary>Where the element opened before <paramref name="from"/> ends, counting nested elements of the same
    /// name; the end of the text when it is never closed (a browser hides the rest).</summary>
    private static int ElementEnd(string text, string name, int from)
    {
        var depth = 1;
        for (var m = Tag().Match(text, from); m.Success; m = m.NextMatch())
        {
            if (!string.Equals(m.Groups[2].Value, name, StringComparison.OrdinalIgnoreCase) || m.Groups[4].Length > 0)
            {
                continue;
            }
            depth += m.Groups[1].Length > 0 ? -1 : 1;
            if (depth == 0)
            {
                return m.Index + m.Length;
            }
        }
        return text.Length;
    }

    private static string? HiddenBy(string tagName, string attributes)
    {
        foreach (Match a in Attribute().Matches(attributes))
        {
            var name = a.Groups[1].Value.ToLowerInvariant();
            var value = a.Groups[2].Success ? a.Groups[2].Value : a.Groups[3].Success ? a.Groups[3].Value : a.Groups[4].Value;
            if (name == "hidden")
            {
                return "the hidden attribute";
            }
            if (name == "type" && tagName.Equals("input", StringComparison.OrdinalIgnoreCase) && value.Equals("hidden", StringComparison.OrdinalIgnoreCase))
            {
                return "type=hidden";
            }
            if (name != "style")
            {
                continue;
            }
            if (HiddenStyle().Match(value) is { Success: true } s)
            {
                return $"style '{s.Value.Trim(';', ' ')}'";
            }
            if (ZeroSize().IsMatch(value) && OverflowHidden().IsMatch(value))
            {
                return "zero size with overflow hidden";
            }
            string? fg = null, bg = null;
            foreach (Match c in ColorDecl().Matches(value))
            {
                var v = NormalizeColor(c.Groups[2].Value);
                if (c.Groups[1].Value.Equals("color", StringComparison.OrdinalIgnoreCase))
                {
                    fg = v;
                }
                else
                {
                    bg = v;
                }
            }
            if (fg is not null && fg == bg)
            {
                return $"text colour equal to background ({fg})";
            }
        }
        return null;
    }

    private static string NormalizeColor(string value)
    {
        var v = value.Trim().ToLowerInvariant().Replace(" ", "", StringComparison.Ordinal);
        return v switch
        {
            "white" or "#fff" or "#ffffff" or "rgb(255,255,255)" => "#ffffff",
            "black" or "#000" or "#000000" or "rgb(0,0,0)" => "#000000",
            _ when v.Length == 4 && v[0] == '#' => $"#{v[1]}{v[1]}{v[2]}{v[2]}{v[3]}{v[3]}",
            _ => v,
        };
    }
}
