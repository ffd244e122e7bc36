using System.Text.RegularExpressions;
using Airlock.Core.Model;
using Airlock.Core.Util;

namespace Airlock.Core.Validation;

/// <summary>Validates a template's <see cref="NetworkSpec"/>; every error names its field under <c>network.</c>.</summary>
public static partial class NetworkValidator
{
    [GeneratedRegex(@"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")]
    private static partial Regex DomainPattern();

    [GeneratedRegex(@"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$")]
    private static partial Regex SecretNamePattern();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex EnvNamePattern();

    public static IReadOnlyList<ValidationError> Validate(NetworkSpec n, string prefix = "network")
    {
        var errors = new List<ValidationError>();
        void Add(string field, string reason) => errors.Add(new($"{prefix}.{field}", reason));

        if (!NetworkModes.All.Contains(n.Mode))
        {
            Add("mode", $"'{n.Mode}' is not a network mode; use one of {string.Join(", ", NetworkModes.All)}");
        }
        if (n.Mode == NetworkModes.None)
        {
            // Rules without a proxy would silently do nothing: say so rather than pretend.
            foreach (var (field, set) in new (string, bool)[]
            {
                ("allow", n.Allow.Count > 0), ("deny", n.Deny.Count > 0), ("resolve", n.Resolve.Count > 0),
                ("secrets", n.Secrets.Count > 0), ("bandwidth", n.Bandwidth is not null), ("terminateTls", n.TerminateTls),
            })
            {
                if (set)
                {
                    Add(field, "applies only with mode 'egress'; mode 'none' has no network at all");
                }
            }
        }
        Rules(n.Allow, "allow", Add);
        Rules(n.Deny, "deny", Add);
        // Contradictions: an allow rule that a deny rule covers entirely allows nothing.
        for (var i = 0; i < n.Allow.Count; i++)
        {
            for (var j = 0; j < n.Deny.Count; j++)
            {
                var a = n.Allow[i];
                var d = n.Deny[j];
                var samePorts = d.Ports is null || (a.Ports is not null && a.Ports.All(d.Ports.Contains));
                if (samePorts && a.Domain is not null && d.Domain is not null && DomainCovers(d.Domain, a.Domain))
                {
                    Add($"allow[{i}]", $"'{a.Domain}' is entirely denied by {prefix}.deny[{j}] ('{d.Domain}'): the allow rule can never apply");
                }
                if (samePorts && a.Cidr is not null && d.Cidr is not null && Cidr.TryParse(a.Cidr, out var ac) && Cidr.TryParse(d.Cidr, out var dc)
                    && dc.Contains(ac.Network) && dc.PrefixLength <= ac.PrefixLength)
                {
                    Add($"allow[{i}]", $"'{a.Cidr}' is entirely denied by {prefix}.deny[{j}] ('{d.Cidr}'): the allow rule can never apply");
                }
            }
        }
        if (n.Bandwidth is not null)
        {
            if (!Quantity.TryParseBytes(n.Bandwidth, out var bps))
            {
                Add("bandwidth", $"'{n.Bandwidth}' is not a rate in bytes per second such as 512Ki or 10Mi");
            }
            else if (bps < 1024)
            {
                Add("bandwidth", $"'{n.Bandwidth}' is below the minimum of 1Ki bytes per second");
            }
        }
        if (n.MaxConnections is < 1 or > 10_000)
        {
            Add("maxConnections", $"{n.MaxConnections} must be between 1 and 10000");
        }
        for (var i = 0; i < n.Resolve.Count; i++)
        {
            var pin = n.Resolve[i];
            if (pin is null)
            {
                Add($"resolve[{i}]", "must be {host, port, address}");
                continue;
            }
            if (string.IsNullOrEmpty(pin.Host) || !DomainPattern().IsMatch(pin.Host) || pin.Host.StartsWith('*'))
            {
                Add($"resolve[{i}].host", $"'{pin.Host}' is not a lowercase host name");
            }
            if (pin.Port is < 1 or > 65535)
            {
                Add($"resolve[{i}].port", $"{pin.Port} is not a port (1-65535)");
            }
            if (!System.Net.IPAddress.TryParse(pin.Address ?? "", out _))
            {
                Add($"resolve[{i}].address", $"'{pin.Address}' is not an IP address");
            }
            for (var j = 0; j < i; j++)
            {
                if (n.Resolve[j] is { } other && other.Host == pin.Host && other.Port == pin.Port && other.Address != pin.Address)
                {
                    Add($"resolve[{i}]", $"pins {pin.Host}:{pin.Port} to {pin.Address}, but {prefix}.resolve[{j}] pins it to {other.Address}");
                }
            }
        }
        var names = new HashSet<string>();
        for (var i = 0; i < n.Secrets.Count; i++)
        {
            var s = n.Secrets[i];
            var f = $"secrets[{i}]";
            if (s is null)
            {
                Add(f, "must be {name, domains, fromEnv|fromFile}");
                continue;
            }
            if (string.IsNullOrEmpty(s.Name) || !SecretNamePattern().IsMatch(s.Name))
            {
                Add(f + ".name", $"'{s.Name}' must be lowercase letters, digits, '-' and '_', 1-63 characters");
            }
            else if (!names.Add(s.Name))
            {
                Add(f + ".name", $"'{s.Name}' is named twice");
            }
            if (s.Domains is not { Count: > 0 })
            {
                Add(f + ".domains", "is empty: name the domains the secret is for");
            }
            else
            {
                for (var j = 0; j < s.Domains.Count; j++)
                {
                    var d = s.Domains[j];
                    if (string.IsNullOrEmpty(d) || !DomainPattern().IsMatch(d))
                    {
                        Add($"{f}.domains[{j}]", $"'{d}' is not a lowercase domain name or *.domain");
                    }
                    else if (!n.Allow.Any(r => r.Domain is { } a && (DomainCovers(a, d))) && !n.Resolve.Any(p => p.Host == d))
                    {
                        Add($"{f}.domains[{j}]", $"'{d}' is not allowed by any {prefix}.allow rule or pin, so the secret could never be sent");
                    }
                }
            }
            if (s.FromEnv is null == s.FromFile is null)
            {
                Add(f, "name exactly one of fromEnv and fromFile");
            }
            if (s.FromEnv is { } fe && !EnvNamePattern().IsMatch(fe))
            {
                Add(f + ".fromEnv", $"'{fe}' is not an environment variable name");
            }
            if (s.FromFile is { } ff && !Path.IsPathFullyQualified(ff))
            {
                Add(f + ".fromFile", $"'{ff}' must be an absolute path");
            }
            if (s.Env is { } env && !EnvNamePattern().IsMatch(env))
            {
                Add(f + ".env", $"'{env}' is not an environment variable name");
            }
        }
        return errors;
    }

    private static void Rules(IReadOnlyList<EgressRule> rules, string kind, Action<string, string> add)
    {
        for (var i = 0; i < rules.Count; i++)
        {
            var r = rules[i];
            var f = $"{kind}[{i}]";
            if (r is null)
            {
                add(f, "must be {domain|cidr, ports}");
                continue;
            }
            if (r.Domain is null == r.Cidr is null)
            {
                add(f, "name exactly one of domain and cidr");
            }
            if (r.Domain is { } d && (d.Length > 253 || !DomainPattern().IsMatch(d)))
            {
                add(f + ".domain", $"'{d}' is not a lowercase domain name or *.domain");
            }
            if (r.Cidr is { } c && !Cidr.TryParse(c, out _))
            {
                add(f + ".cidr", $"'{c}' is not an address or CIDR such as 203.0.113.0/24 or 2001:db8::/32");
            }
            foreach (var port in r.Ports ?? [])
            {
                if (port is < 1 or > 65535)
                {
                    add(f + ".ports", $"{port} is not a port (1-65535)");
                }
            }
            if (r.Ports is { Count: 0 })
            {
                add(f + ".ports", "is empty: leave it out to mean every port");
            }
        }
    }

    /// <summary>Whether the pattern <paramref name="rule"/> matches every name <paramref name="other"/> matches.</summary>
    private static bool DomainCovers(string rule, string other) =>
        rule == other
        || (rule.StartsWith("*.", StringComparison.Ordinal) && other.EndsWith(rule[1..], StringComparison.Ordinal));
}
