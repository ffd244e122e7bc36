namespace Airlock.Screening;

/// <summary>Stable finding codes: users match on them in policy, audit queries and <c>airlock mcp scan --json</c>.</summary>
public static class FindingCodes
{
    /// <summary>Characters that render as nothing: Unicode tags (U+E0000–E007F), zero-width characters, bidi
    /// controls, other format (Cf), private-use (Co), unassigned (Cn) and lone surrogate code points, runs of
    /// variation selectors, Hangul fillers.</summary>
    public const string InvisibleUnicode = "invisible-unicode";

    /// <summary>Terminal escape sequences (CSI, OSC, DCS, …), C0/C1 control characters other than tab and newline, and
    /// a carriage return that would overwrite the line before it.</summary>
    public const string AnsiEscape = "ansi-escape";

    /// <summary>An HTML comment, or a markdown comment (<c>[//]: # (…)</c>): not rendered, but read by the model.</summary>
    public const string HtmlComment = "html-comment";

    /// <summary>An HTML element hidden by its style (display:none, visibility:hidden, font-size:0, opacity:0, same
    /// text and background colour, off-screen) or by the <c>hidden</c> attribute.</summary>
    public const string HiddenHtml = "hidden-html";

    /// <summary>A markdown or HTML image or link whose URL carries data to a host that is not allowed.</summary>
    public const string ExfilLink = "exfil-link";

    /// <summary>Instructions aimed at the model: "ignore previous instructions", &lt;IMPORTANT&gt; tags, "before using
    /// this tool you must…", system-override markers.</summary>
    public const string HiddenDirective = "hidden-directive";

    /// <summary>Asks the model to keep something from the user ("do not tell the user", "without the user's
    /// knowledge", "secretly send…").</summary>
    public const string ConcealFromUser = "conceal-from-user";

    /// <summary>Names a tool of another server (tool shadowing).</summary>
    public const string CrossToolReference = "cross-tool-reference";

    /// <summary>Names a file that holds secrets or agent configuration (~/.ssh, id_rsa, .env, mcp.json,
    /// claude_desktop_config.json, /etc/passwd, cloud credentials, …).</summary>
    public const string SensitiveFile = "sensitive-file";

    /// <summary>Says data goes to a remote, external or third-party destination, or pipes it to the network from a
    /// shell command.</summary>
    public const string DataExfiltration = "data-exfiltration";

    /// <summary>Offensive-security vocabulary (exploitation, credential theft, privilege escalation, persistence,
    /// defence evasion, destruction): a tool that openly says it attacks.</summary>
    public const string MaliciousCapability = "malicious-capability";

    /// <summary>A tool description longer than <see cref="ScreeningSpec.MaxDescriptionLength"/>.</summary>
    public const string DescriptionTooLong = "description-too-long";

    /// <summary>Every code, in the order findings are reported.</summary>
    public static readonly IReadOnlyList<string> All =
    [
        InvisibleUnicode, AnsiEscape, HtmlComment, HiddenHtml, ExfilLink, HiddenDirective, ConcealFromUser,
        CrossToolReference, SensitiveFile, DataExfiltration, MaliciousCapability, DescriptionTooLong,
    ];

    /// <summary>What happens to a finding when the policy does not say. Content that is hidden from the user is
    /// removed (the rest of the text still reaches the agent); instructions aimed at the model and requests for
    /// secrets withhold the whole text; signals with a real false-positive rate are reported only.</summary>
    public static readonly IReadOnlyDictionary<string, ScreeningAction> DefaultActions = new Dictionary<string, ScreeningAction>
    {
        [InvisibleUnicode] = ScreeningAction.Strip,
        [AnsiEscape] = ScreeningAction.Strip,
        [HtmlComment] = ScreeningAction.Strip,
        [HiddenHtml] = ScreeningAction.Strip,
        [ExfilLink] = ScreeningAction.Strip,
        [HiddenDirective] = ScreeningAction.Block,
        [ConcealFromUser] = ScreeningAction.Block,
        [CrossToolReference] = ScreeningAction.Warn,
        [SensitiveFile] = ScreeningAction.Block,
        [DataExfiltration] = ScreeningAction.Warn,
        [MaliciousCapability] = ScreeningAction.Warn,
        [DescriptionTooLong] = ScreeningAction.Strip,
    };
}
