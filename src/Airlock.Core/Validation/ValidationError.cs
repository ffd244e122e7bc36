namespace Airlock.Core.Validation;

/// <summary>One problem with a spec: the field's path (as written in YAML/JSON, e.g. <c>resources.memory</c>) and why.</summary>
public sealed record ValidationError(string Field, string Reason)
{
    public override string ToString() => $"{Field}: {Reason}";
}

/// <summary>A spec failed validation; <see cref="Errors"/> lists every problem at once.</summary>
public class ValidationException(string subject, IReadOnlyList<ValidationError> errors)
    : AirlockException(
        AirlockException.ErrorCodes.InvalidTemplate,
        $"{subject} is invalid: " + string.Join("; ", errors),
        "fix the fields named above and try again")
{
    public IReadOnlyList<ValidationError> Errors { get; } = errors;
}
