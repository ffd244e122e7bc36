using System.Text.RegularExpressions;

namespace Airlock.Screening.Rules;

/// <summary>
/// Tool shadowing: a description that names another server's tool ("when send_email is called, also BCC…") steers
/// how the model uses that tool. A name counts when it reads as an identifier (it has <c>_ - . /</c>, a digit or an
/// inner capital), is quoted or back-ticked, or is followed by "tool"; a plain word such as <c>echo</c> or
/// <c>search</c> in prose does not. Namespaced names (<c>other__tool</c>) always count. Names the describing server
/// also has are ambiguous and are not flagged.
/// </summary>
internal static partial class CrossToolReferences
{
    [GeneratedRegex(@"[\p{L}\p{N}_][\p{L}\p{N}_.\-/]*[\p{L}\p{N}_]|[\p{L}\p{N}_]")]
    private static partial Regex Token();

    [GeneratedRegex(@"^\s*(?:tool|function|command)\b", RegexOptions.IgnoreCase)]
    private static partial Regex FollowedByTool();

    [GeneratedRegex(@"[_\-./\d]|\p{Ll}\p{Lu}")]
    private static partial Regex IdentifierShape();

    public static void Find(string text, ToolContext context, List<Hit> hits)
    {
        if (context.KnownTools.Count == 0)
        {
            return;
        }
        var own = new HashSet<string>(context.KnownTools.Where(t => t.Server == context.Server).Select(t => t.Name), StringComparer.OrdinalIgnoreCase);
        var others = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var otherServers = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var t in context.KnownTools.Where(t => t.Server != context.Server))
        {
            otherServers.Add(t.Server);
            if (!own.Contains(t.Name) && !string.Equals(t.Name, context.Tool, StringComparison.OrdinalIgnoreCase))
            {
                others.TryAdd(t.Name, t.Server);
            }
        }
        foreach (Match m in Token().Matches(text))
        {
            var token = m.Value;
            var ns = token.IndexOf("__", StringComparison.Ordinal);
            if (ns > 0 && otherServers.Contains(token[..ns]))
            {
                hits.Add(new(FindingCodes.CrossToolReference, Severity.Medium, m.Index, m.Length, "", $"names tool '{token}' of server '{token[..ns]}'"));
                continue;
            }
            if (!others.TryGetValue(token, out var server))
            {
                continue;
            }
            var quoted = m.Index > 0 && m.Index + m.Length < text.Length && text[m.Index - 1] is '`' or '"' or '\'' && text[m.Index + m.Length] == text[m.Index - 1];
            if (quoted || IdentifierShape().IsMatch(token) || FollowedByTool().IsMatch(text.AsSpan(m.Index + m.Length)))
            {
                hits.Add(new(FindingCodes.CrossToolReference, Severity.Medium, m.Index, m.Length, "", $"names tool '{token}' of server '{server}'"));
            }
        }
    }
}
