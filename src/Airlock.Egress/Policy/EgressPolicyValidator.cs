using System.Text.RegularExpressions;
using Airlock.Core.Validation;

namespace Airlock.Egress.Policy;

/// <summary>Validates an <see cref="EgressPolicy"/>; every error names its field (under <c>prefix</c>).</summary>
public static partial class EgressPolicyValidator
{
    [GeneratedRegex(@"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")]
    private static partial Regex DomainPattern();

    public static IReadOnlyList<ValidationError> Validate(EgressPolicy p, string prefix = "network")
    {
        var errors = new List<ValidationError>();
        void Rules(IReadOnlyList<EgressRule> rules, string kind)
        {
            for (var i = 0; i < rules.Count; i++)
            {
                var r = rules[i];
                var f = $"{prefix}.{kind}[{i}]";
                if (r.Domain is null == r.Cidr is null)
                {
                    errors.Add(new(f, "name exactly one of domain and cidr"));
                }
                if (r.Domain is { } d && (d.Length > 253 || !DomainPattern().IsMatch(d)))
                {
                    errors.Add(new(f + ".domain", $"'{d}' is not a lowercase domain name or *.domain"));
                }
                if (r.Cidr is { } c && !Cidr.TryParse(c, out _))
                {
                    errors.Add(new(f + ".cidr", $"'{c}' is not an address or CIDR such as 203.0.113.0/24 or 2001:db8::/32"));
                }
                foreach (var port in r.Ports ?? [])
                {
                    if (port is < 1 or > 65535)
                    {
                        errors.Add(new(f + ".ports", $"{port} is not a port (1-65535)"));
                    }
                }
                if (r.Ports is { Count: 0 })
                {
                    errors.Add(new(f + ".ports", "is empty: leave it out to mean every port"));
                }
            }
        }
        Rules(p.Allow, "allow");
        Rules(p.Deny, "deny");
        // Contradictions: an allow rule that a deny rule covers entirely allows nothing.
        for (var i = 0; i < p.Allow.Count; i++)
        {
            for (var j = 0; j < p.Deny.Count; j++)
            {
                var a = p.Allow[i];
                var d = p.Deny[j];
                var samePorts = d.Ports is null || (a.Ports is not null && a.Ports.All(d.Ports.Contains));
                if (samePorts && a.Domain is not null && d.Domain is not null && DomainCovers(d.Domain, a.Domain))
                {
                    errors.Add(new($"{prefix}.allow[{i}]", $"'{a.Domain}' is entirely denied by {prefix}.deny[{j}] ('{d.Domain}'): the allow rule can never apply"));
                }
            }
        }
        if (p.BandwidthBytesPerSecond is < 1024)
        {
            errors.Add(new($"{prefix}.bandwidth", $"{p.BandwidthBytesPerSecond} bytes/s is below the minimum of 1024"));
        }
        if (p.MaxConnections is < 1 or > 10_000)
        {
            errors.Add(new($"{prefix}.maxConnections", $"{p.MaxConnections} must be between 1 and 10000"));
        }
        for (var i = 0; i < p.Pins.Count; i++)
        {
            var pin = p.Pins[i];
            if (!DomainPattern().IsMatch(pin.Host) || pin.Host.StartsWith('*'))
            {
                errors.Add(new($"{prefix}.pins[{i}].host", $"'{pin.Host}' is not a host name"));
            }
            if (pin.Port is < 1 or > 65535)
            {
                errors.Add(new($"{prefix}.pins[{i}].port", $"{pin.Port} is not a port"));
            }
            if (!System.Net.IPAddress.TryParse(pin.Address, out _))
            {
                errors.Add(new($"{prefix}.pins[{i}].address", $"'{pin.Address}' is not an IP address"));
            }
        }
        return errors;
    }

    public static void EnsureValid(EgressPolicy p, string prefix = "network")
    {
        var errors = Validate(p, prefix);
        if (errors.Count > 0)
        {
            throw new ValidationException("egress policy", errors);
        }
    }

    /// <summary>Whether the pattern <paramref name="rule"/> matches every name <paramref name="other"/> matches.</summary>
    private static bool DomainCovers(string rule, string other) =>
        rule == other
        || (rule.StartsWith("*.", StringComparison.Ordinal) && other.EndsWith(rule[1..], StringComparison.Ordinal));

    /// <summary>Whether <paramref name="host"/> matches a domain rule (exact, or <c>*.suffix</c> for names below it).</summary>
    public static bool DomainMatches(string rule, string host) =>
        rule.StartsWith("*.", StringComparison.Ordinal)
            ? host.EndsWith(rule[1..], StringComparison.Ordinal) && host.Length > rule.Length - 1
            : rule == host;
}
