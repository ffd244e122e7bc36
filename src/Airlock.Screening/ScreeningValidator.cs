using System.Text.RegularExpressions;

namespace Airlock.Screening;

/// <summary>Validates a <see cref="ScreeningSpec"/>; every error names its field under <c>screening.</c>.</summary>
public static partial class ScreeningValidator
{
    public const int MaxDescriptionLengthLimit = 65_536;

    [GeneratedRegex(@"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")]
    private static partial Regex HostPattern();

    public static IReadOnlyList<ScreeningSpecError> Validate(ScreeningSpec spec, string prefix = "screening")
    {
        var errors = new List<ScreeningSpecError>();
        void Add(string field, string reason) => errors.Add(new($"{prefix}.{field}", reason));

        if (spec.MaxDescriptionLength is < 1 or > MaxDescriptionLengthLimit)
        {
            Add("maxDescriptionLength", $"{spec.MaxDescriptionLength} must be between 1 and {MaxDescriptionLengthLimit}");
        }
        if (spec.Actions is null)
        {
            Add("actions", "must be a map of finding code to block, strip or warn");
        }
        else
        {
            foreach (var (code, action) in spec.Actions)
            {
                if (!FindingCodes.All.Contains(code))
                {
                    Add($"actions.{code}", $"'{code}' is not a finding code; use one of {string.Join(", ", FindingCodes.All)}");
                }
                if (!TryParseAction(action, out _))
                {
                    Add($"actions.{code}", $"'{action}' is not an action; use block, strip or warn");
                }
            }
        }
        if (spec.AllowedLinkHosts is null)
        {
            Add("allowedLinkHosts", "must be a list of host names");
        }
        else
        {
            for (var i = 0; i < spec.AllowedLinkHosts.Count; i++)
            {
                var host = spec.AllowedLinkHosts[i];
                if (string.IsNullOrEmpty(host) || host.Length > 253 || !HostPattern().IsMatch(host))
                {
                    Add($"allowedLinkHosts[{i}]", $"'{host}' is not a lowercase host name or *.domain (no scheme, port or path)");
                }
            }
        }
        return errors;
    }

    /// <summary>Throws <see cref="ScreeningSpecException"/> naming every bad field.</summary>
    public static void ThrowIfInvalid(ScreeningSpec spec)
    {
        var errors = Validate(spec);
        if (errors.Count > 0)
        {
            throw new ScreeningSpecException(errors);
        }
    }

    /// <summary>Parses <c>block</c>, <c>strip</c> or <c>warn</c> (lowercase, as written in policy).</summary>
    public static bool TryParseAction(string? text, out ScreeningAction action)
    {
        (var ok, action) = text switch
        {
            "block" => (true, ScreeningAction.Block),
            "strip" => (true, ScreeningAction.Strip),
            "warn" => (true, ScreeningAction.Warn),
            _ => (false, ScreeningAction.Warn),
        };
        return ok;
    }
}
