using Airlock.Screening;

namespace Airlock.Mcp.Server;

/// <summary>
/// The default screen of Airlock's own MCP tools: every text that came out of a sandbox goes through
/// <see cref="Screener.ScreenResult"/> (invisible Unicode, ANSI escapes, HTML comments and hidden HTML, links that
/// carry data to an outside host). Stripped content is removed; a blocked result is replaced by a line naming the
/// finding codes, so the agent learns that something was withheld and why, but not what.
/// </summary>
public sealed class ScreeningResultScreen(Screener screener) : IResultScreen
{
    public ScreeningResultScreen()
        : this(new Screener())
    {
    }

    public string Screen(string toolName, string text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return text;
        }
        var r = screener.ScreenResult(text);
        return r.Blocked
            ? $"[airlock: output withheld by screening: {string.Join(", ", r.Findings.Where(f => f.Action == ScreeningAction.Block).Select(f => f.Code).Distinct())}]"
            : r.Text;
    }
}
