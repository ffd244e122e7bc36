namespace Airlock.Screening;

/// <summary>What the screener does with a finding. Written in policy as <c>warn</c>, <c>strip</c> or <c>block</c>.</summary>
public enum ScreeningAction
{
    /// <summary>Report it; the text is delivered unchanged.</summary>
    Warn,

    /// <summary>Remove or neutralize the span (a link keeps its text, a bare carriage return becomes a newline, an
    /// overlong description is cut); the rest is delivered.</summary>
    Strip,

    /// <summary>Withhold the whole text (or tool). The span is still neutralized in <see cref="ScreeningResult.Text"/>
    /// so that a caller that shows it anyway shows the safe form.</summary>
    Block,
}

public enum Severity
{
    Low,
    Medium,
    High,
}

/// <summary>One thing the screener found.</summary>
/// <param name="Code">One of <see cref="FindingCodes"/>.</param>
/// <param name="Severity">How bad it is on its own, whatever the policy does with it.</param>
/// <param name="Action">What the policy did with it.</param>
/// <param name="Field">Where: empty for a tool result, <c>name</c>, <c>description</c>, <c>title</c>,
/// <c>inputSchema.properties.path.description</c>, <c>annotations.title</c>, …</param>
/// <param name="Start">UTF-16 offset of the span in the text as received (for <c>description-too-long</c>: the
/// length limit).</param>
/// <param name="Length">UTF-16 length of the span.</param>
/// <param name="Excerpt">The span, at most 120 characters, with invisible and control characters written as
/// <c>\u{XXXX}</c> (Unicode tags additionally decoded to the ASCII they smuggle), safe to print and audit.</param>
/// <param name="Message">Why it was flagged, for a human.</param>
public sealed record Finding(
    string Code,
    Severity Severity,
    ScreeningAction Action,
    string Field,
    int Start,
    int Length,
    string Excerpt,
    string Message)
{
    public override string ToString() =>
        $"{Code} ({Severity}, {Action.ToString().ToLowerInvariant()}) {(Field.Length > 0 ? Field + " " : "")}@{Start}+{Length}: {Message}: {Excerpt}";
}

/// <summary>The screened form of one text.</summary>
/// <param name="Text">The text with every <c>strip</c> and <c>block</c> finding removed or neutralized.</param>
/// <param name="Findings">Everything found, in text order within each code.</param>
/// <param name="Blocked">A finding's action is <c>block</c>: do not deliver the text.</param>
public sealed record ScreeningResult(string Text, IReadOnlyList<Finding> Findings, bool Blocked)
{
    public bool Clean => Findings.Count == 0;
}
