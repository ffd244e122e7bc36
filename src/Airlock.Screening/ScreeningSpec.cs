namespace Airlock.Screening;

/// <summary>
/// Screening policy, as written under <c>screening:</c> in a gateway config:
/// <code>
/// screening:
///   maxDescriptionLength: 1024
///   actions: { hidden-directive: block, cross-tool-reference: block, html-comment: warn }
///   allowedLinkHosts: [ github.com, "*.githubusercontent.com" ]
/// </code>
/// Check it with <see cref="ScreeningValidator"/>; <see cref="Screener"/>'s constructor does.
/// </summary>
public sealed record ScreeningSpec
{
    /// <summary>Longest tool description delivered, in UTF-16 code units; longer ones are a
    /// <c>description-too-long</c> finding (cut when its action is <c>strip</c>).</summary>
    public int MaxDescriptionLength { get; init; } = 1024;

    /// <summary>Finding code → <c>block</c>, <c>strip</c> or <c>warn</c>. Codes not named keep
    /// <see cref="FindingCodes.DefaultActions"/>.</summary>
    public IReadOnlyDictionary<string, string> Actions { get; init; } = new Dictionary<string, string>();

    /// <summary>Hosts that links and images may point at with data in their URL: an exact lowercase name
    /// (<c>github.com</c>) or <c>*.example.com</c> for every name below it. Empty: none.</summary>
    public IReadOnlyList<string> AllowedLinkHosts { get; init; } = [];
}

/// <summary>One problem with a <see cref="ScreeningSpec"/>: the field's path as written in YAML/JSON and why.</summary>
public sealed record ScreeningSpecError(string Field, string Reason)
{
    public override string ToString() => $"{Field}: {Reason}";
}

/// <summary>A <see cref="ScreeningSpec"/> failed validation; <see cref="Errors"/> lists every problem at once.</summary>
public sealed class ScreeningSpecException(IReadOnlyList<ScreeningSpecError> errors)
    : ArgumentException("screening policy is invalid: " + string.Join("; ", errors))
{
    public IReadOnlyList<ScreeningSpecError> Errors { get; } = errors;
}
