using Airlock.Core.Control;

namespace Airlock.Core.Validation;

/// <summary>Validates a sandbox's spec. Every error names its field.</summary>
public static class SandboxSpecValidator
{
    public static void EnsureValid(string name, SandboxSpec spec, DateTimeOffset now)
    {
        var errors = new List<ValidationError>();
        ResourceNames.Check("metadata.name", name, errors);
        if (spec.SandboxTemplateRef is null || !TemplateValidator.IsValidName(spec.SandboxTemplateRef.Name))
        {
            errors.Add(new("spec.sandboxTemplateRef.name", "is required: the name of a template"));
        }
        if (!ShutdownPolicies.All.Contains(spec.ShutdownPolicy))
        {
            errors.Add(new("spec.shutdownPolicy", $"'{spec.ShutdownPolicy}' must be one of {string.Join(", ", ShutdownPolicies.All)}"));
        }
        if (!OperatingModes.All.Contains(spec.OperatingMode))
        {
            errors.Add(new("spec.operatingMode", $"'{spec.OperatingMode}' must be one of {string.Join(", ", OperatingModes.All)}"));
        }
        if (spec.ShutdownTime is { } t && t <= now)
        {
            errors.Add(new("spec.shutdownTime", $"{t:O} is in the past"));
        }
        EnvCheck.Check("spec.env", spec.Env?.Select(kv => new EnvVar(kv.Key, kv.Value)).ToList() ?? [], errors);
        ResourceNames.Throw($"sandbox '{name}'", errors);
    }
}

/// <summary>Validates a claim's spec.</summary>
public static class SandboxClaimValidator
{
    public static void EnsureValid(string name, SandboxClaimSpec spec, DateTimeOffset now)
    {
        var errors = new List<ValidationError>();
        ResourceNames.Check("metadata.name", name, errors);
        if (spec.WarmPoolRef is null == spec.SandboxTemplateRef is null)
        {
            errors.Add(new("spec", "name exactly one of warmPoolRef and sandboxTemplateRef"));
        }
        if (spec.WarmPoolRef is { } p && !TemplateValidator.IsValidName(p.Name))
        {
            errors.Add(new("spec.warmPoolRef.name", $"'{p.Name}' is not a valid pool name"));
        }
        if (spec.SandboxTemplateRef is { } r && !TemplateValidator.IsValidName(r.Name))
        {
            errors.Add(new("spec.sandboxTemplateRef.name", $"'{r.Name}' is not a valid template name"));
        }
        var l = spec.Lifecycle ?? new ClaimLifecycle();
        if (!ShutdownPolicies.All.Contains(l.ShutdownPolicy))
        {
            errors.Add(new("spec.lifecycle.shutdownPolicy", $"'{l.ShutdownPolicy}' must be one of {string.Join(", ", ShutdownPolicies.All)}"));
        }
        if (l.ShutdownTime is { } t && t <= now)
        {
            errors.Add(new("spec.lifecycle.shutdownTime", $"{t:O} is in the past"));
        }
        if (l.TtlSecondsAfterFinished is < 0 or > 30 * 86400)
        {
            errors.Add(new("spec.lifecycle.ttlSecondsAfterFinished", "must be between 0 and 2592000 (30 days)"));
        }
        EnvCheck.Check("spec.env", spec.Env ?? [], errors);
        ResourceNames.Throw($"claim '{name}'", errors);
    }
}

/// <summary>Validates a warm pool's spec.</summary>
public static class SandboxWarmPoolValidator
{
    public const int MaxReplicas = 256;

    public static void EnsureValid(string name, SandboxWarmPoolSpec spec)
    {
        var errors = new List<ValidationError>();
        ResourceNames.Check("metadata.name", name, errors);
        if (spec.Replicas is < 0 or > MaxReplicas)
        {
            errors.Add(new("spec.replicas", $"{spec.Replicas} must be between 0 and {MaxReplicas}"));
        }
        if (spec.SandboxTemplateRef is null || !TemplateValidator.IsValidName(spec.SandboxTemplateRef.Name))
        {
            errors.Add(new("spec.sandboxTemplateRef.name", "is required: the name of a template"));
        }
        if (spec.UpdateStrategy is null || !UpdateStrategies.All.Contains(spec.UpdateStrategy.Type))
        {
            errors.Add(new("spec.updateStrategy.type", $"'{spec.UpdateStrategy?.Type}' must be one of {string.Join(", ", UpdateStrategies.All)}"));
        }
        ResourceNames.Throw($"warm pool '{name}'", errors);
    }
}

internal static class ResourceNames
{
    public static void Check(string field, string? name, List<ValidationError> errors)
    {
        if (!TemplateValidator.IsValidName(name))
        {
            errors.Add(new(field, $"'{name}' must be 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit"));
        }
    }

    public static void Throw(string subject, List<ValidationError> errors)
    {
        if (errors.Count > 0)
        {
            throw new ValidationException(subject, errors);
        }
    }
}

internal static class EnvCheck
{
    public static void Check(string field, IReadOnlyList<EnvVar> env, List<ValidationError> errors)
    {
        var seen = new HashSet<string>();
        for (var i = 0; i < env.Count; i++)
        {
            var e = env[i];
            if (e is null || string.IsNullOrEmpty(e.Name) || !(char.IsAsciiLetter(e.Name[0]) || e.Name[0] == '_') || !e.Name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
            {
                errors.Add(new($"{field}[{i}].name", $"'{e?.Name}' must be letters, digits and '_', not starting with a digit"));
            }
            else if (!seen.Add(e.Name))
            {
                errors.Add(new($"{field}[{i}].name", $"'{e.Name}' is given twice"));
            }
            if (e?.Value is null || e.Value.Contains('\0'))
            {
                errors.Add(new($"{field}[{i}].value", "must be a string without NUL characters"));
            }
        }
    }
}
