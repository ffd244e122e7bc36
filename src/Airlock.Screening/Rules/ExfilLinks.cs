using System.Text.RegularExpressions;

namespace Airlock.Screening.Rules;

/// <summary>
/// Images and links that carry data out. An image loads by itself when the text is rendered, so any data-like part
/// of its URL (a query value, a long encoded path segment or host label, a placeholder to fill in) to a host not
/// allowed is an exfiltration channel that needs no click. A link needs a click, so it is flagged only for a
/// placeholder or a long encoded value. Bare URLs in prose are not rendered and are not checked here (a description
/// that tells the model to send data somewhere is <c>data-exfiltration</c>).
/// </summary>
internal static partial class ExfilLinks
{
    [GeneratedRegex(@"(!?)\[((?:[^\[\]\n]|\[[^\[\]\n]*\])*)\]\(\s*<?([^\s<>()]*(?:\([^\s()]*\)[^\s<>()]*)*)>?(?:\s+(?:""[^""\n]*""|'[^'\n]*'|\([^)\n]*\)))?\s*\)")]
    private static partial Regex MarkdownInline();

    [GeneratedRegex(@"^[ \t]{0,3}\[([^\]\n]+)\]:[ \t]*<?(\S+?)>?(?:[ \t]+(?:""[^""\n]*""|'[^'\n]*'|\([^)\n]*\)))?[ \t]*$", RegexOptions.Multiline)]
    private static partial Regex MarkdownReference();

    [GeneratedRegex(@"<(https?://[^\s<>]+)>", RegexOptions.IgnoreCase)]
    private static partial Regex Autolink();

    [GeneratedRegex(@"<(img|image|a|iframe|frame|source|video|audio|embed|object|link|script|form|input|track|body|table|td)\b[^>]*>", RegexOptions.IgnoreCase)]
    private static partial Regex HtmlTag();

    [GeneratedRegex(@"\b(src|href|data|action|poster|background|formaction|srcset)\s*=\s*(?:""([^""]*)""|'([^']*)'|([^\s>]+))", RegexOptions.IgnoreCase)]
    private static partial Regex UrlAttribute();

    // Something to fill in: {data}, {{x}}, ${VAR}, $SECRET, <conversation>, [DATA], or their percent-encoded braces.
    [GeneratedRegex(@"\{[^{}/]*\}|\$\{[^}]*\}|\$[A-Z_][A-Z0-9_]{2,}|<[^<>]+>|\[[A-Z_ ]{3,}\]|%7[BbDd]|%3[CcEe]")]
    private static partial Regex Placeholder();

    [GeneratedRegex(@"^[A-Za-z0-9+/=_%.~-]+$")]
    private static partial Regex EncodedChars();

    public static void Find(string text, HostAllowList allowed, List<Hit> hits)
    {
        foreach (Match m in MarkdownInline().Matches(text))
        {
            var image = m.Groups[1].Length > 0;
            if (Check(m.Groups[3].Value, image, allowed) is { } why)
            {
                hits.Add(new(FindingCodes.ExfilLink, Severity.High, m.Index, m.Length, m.Groups[2].Value,
                    $"markdown {(image ? "image" : "link")} {why}"));
            }
        }
        foreach (Match m in MarkdownReference().Matches(text))
        {
            // Definitions serve images and links alike: judge them as images, the stricter case.
            if (Check(m.Groups[2].Value, image: true, allowed) is { } why)
            {
                hits.Add(new(FindingCodes.ExfilLink, Severity.High, m.Index, m.Length, "", $"markdown link reference {why}"));
            }
        }
        foreach (Match m in Autolink().Matches(text))
        {
            if (Check(m.Groups[1].Value, image: false, allowed) is { } why)
            {
                hits.Add(new(FindingCodes.ExfilLink, Severity.High, m.Index, m.Length, "", $"autolink {why}"));
            }
        }
        foreach (Match m in HtmlTag().Matches(text))
        {
            var tag = m.Groups[1].Value.ToLowerInvariant();
            var loadsItself = tag is not ("a" or "form");
            foreach (Match a in UrlAttribute().Matches(m.Value))
            {
                var url = a.Groups[2].Success ? a.Groups[2].Value : a.Groups[3].Success ? a.Groups[3].Value : a.Groups[4].Value;
                if (Check(System.Net.WebUtility.HtmlDecode(url), loadsItself, allowed) is { } why)
                {
                    hits.Add(new(FindingCodes.ExfilLink, Severity.High, m.Index, m.Length, "", $"<{tag}> {why}"));
                    break;
                }
            }
        }
    }

    /// <summary>Why <paramref name="url"/> carries data to a host not allowed, or null.</summary>
    internal static string? Check(string url, bool image, HostAllowList allowed)
    {
        if (url.StartsWith("//", StringComparison.Ordinal))
        {
            url = "https:" + url;
        }
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https" or "ftp" or "ws" or "wss"))
        {
            return null; // relative, data:, mailto: … — nothing leaves for a host
        }
        var host = uri.IdnHost.ToLowerInvariant();
        if (allowed.Allows(host))
        {
            return null;
        }
        var rest = url[(url.IndexOf(uri.Authority, StringComparison.OrdinalIgnoreCase) is var k and >= 0 ? k + uri.Authority.Length : 0)..];
        if (Placeholder().Match(rest) is { Success: true } p)
        {
            return $"to {host} has a placeholder to fill in ('{p.Value}')";
        }
        foreach (var label in host.Split('.'))
        {
            if (label.Length >= 32 && LooksEncoded(label, 32))
            {
                return $"to {host} encodes data in the host name";
            }
        }
        foreach (var segment in uri.AbsolutePath.Split('/'))
        {
            if (segment.Length >= 40 && LooksEncoded(segment, 40))
            {
                return $"to {host} carries an encoded path segment ({segment.Length} characters)";
            }
        }
        var query = uri.Query.TrimStart('?');
        if (query.Length == 0)
        {
            return null;
        }
        if (image && query.Length >= 48)
        {
            return $"to {host} carries a {query.Length}-character query";
        }
        foreach (var pair in query.Split('&'))
        {
            var eq = pair.IndexOf('=');
            var raw = eq >= 0 ? pair[(eq + 1)..] : pair;
            var words = raw.Split(['+', ' '], StringSplitOptions.RemoveEmptyEntries).Length;
            var escapes = Regex.Count(raw, "%[0-9A-Fa-f]{2}");
            // An image's query value of any real length is data; a link's must look encoded or like prose.
            if (image ? raw.Length >= 16 : raw.Length >= 32 && (LooksEncoded(raw, 32) || words >= 3 || escapes >= 2))
            {
                return $"to {host} carries data in its query ('{(eq >= 0 ? pair[..eq] : "")}', {raw.Length} characters)";
            }
        }
        return null;
    }

    /// <summary>Base64, base64url, hex or percent-encoding: only encoding characters, letters and digits mixed.</summary>
    private static bool LooksEncoded(string s, int minLength) =>
        s.Length >= minLength && EncodedChars().IsMatch(s) && s.Any(char.IsDigit) && s.Any(char.IsLetter);
}

/// <summary>Exact host names and <c>*.domain</c> patterns (every name below the domain).</summary>
internal sealed class HostAllowList(IEnumerable<string> patterns)
{
    private readonly HashSet<string> exact = new(patterns.Where(p => !p.StartsWith("*.", StringComparison.Ordinal)), StringComparer.OrdinalIgnoreCase);
    private readonly string[] suffixes = [.. patterns.Where(p => p.StartsWith("*.", StringComparison.Ordinal)).Select(p => p[1..])];

    public bool Allows(string host) =>
        exact.Contains(host) || suffixes.Any(s => host.EndsWith(s, StringComparison.OrdinalIgnoreCase) && host.Length > s.Length);
}
