using Airlock.Core;
using Airlock.Core.Model;
using Airlock.Core.Util;

namespace Airlock.Egress.Policy;

/// <summary>The proxy's working form of a template's <see cref="NetworkSpec"/>: rates parsed, secret values read.
/// Deny by default: a name must match an allow rule, an IP literal an allow CIDR; addresses in private, loopback,
/// link-local, metadata and other special ranges are refused even then, unless an allow CIDR names them or the name
/// is pinned (<see cref="Pins"/>).</summary>
public sealed record EgressPolicy
{
    public IReadOnlyList<EgressRule> Allow { get; init; } = [];
    public IReadOnlyList<EgressRule> Deny { get; init; } = [];

    /// <summary>Bytes per second, both directions together, for the whole sandbox; null: unlimited.</summary>
    public long? BandwidthBytesPerSecond { get; init; }

    /// <summary>Connections open at once.</summary>
    public int MaxConnections { get; init; } = 64;

    /// <summary>Names pinned to an address (like curl's --resolve HOST:PORT:ADDR): the proxy connects there without
    /// resolving, and the pin counts as an explicit allow for that name and port only.</summary>
    public IReadOnlyList<EgressPin> Pins { get; init; } = [];

    /// <summary>Secrets with their values, injected at egress.</summary>
    public IReadOnlyList<SecretValue> Secrets { get; init; } = [];

    /// <summary>Terminate TLS (needs a certificate authority in the proxy options).</summary>
    public bool TerminateTls { get; init; }

    /// <summary>Builds the policy of a sandbox from its template's network spec, adding <paramref name="extraPins"/>
    /// (e.g. <c>airlock run --resolve</c>) and reading secret values through <paramref name="environment"/>
    /// (default: this process's environment). A missing value is an error naming the secret's field.</summary>
    public static EgressPolicy FromNetwork(NetworkSpec network, IEnumerable<EgressPin>? extraPins = null, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        var secrets = new List<SecretValue>();
        for (var i = 0; i < network.Secrets.Count; i++)
        {
            var s = network.Secrets[i];
            string? value;
            if (s.FromEnv is { } name)
            {
                value = environment(name);
                if (string.IsNullOrEmpty(value))
                {
                    throw new AirlockException(AirlockException.ErrorCodes.InvalidTemplate,
                        $"network.secrets[{i}].fromEnv: {name} is not set in the environment of the Airlock process that runs the egress proxy",
                        $"export {name}=... before running airlock (or airlock serve), or use fromFile");
                }
            }
            else
            {
                try
                {
                    value = File.ReadAllText(s.FromFile!).TrimEnd('\r', '\n');
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new AirlockException(AirlockException.ErrorCodes.InvalidTemplate,
                        $"network.secrets[{i}].fromFile: cannot read {s.FromFile}: {e.Message}",
                        "point fromFile at a readable file holding the secret value");
                }
                if (value.Length == 0)
                {
                    throw new AirlockException(AirlockException.ErrorCodes.InvalidTemplate,
                        $"network.secrets[{i}].fromFile: {s.FromFile} is empty", "write the secret value into the file");
                }
            }
            if (value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
            {
                throw new AirlockException(AirlockException.ErrorCodes.InvalidTemplate,
                    $"network.secrets[{i}]: the value holds a line break or NUL and cannot go into a header", "store the value on one line");
            }
            secrets.Add(new SecretValue(s.Name, s.Placeholder, s.Domains, value));
        }
        return new EgressPolicy
        {
            Allow = network.Allow,
            Deny = network.Deny,
            BandwidthBytesPerSecond = network.Bandwidth is { } b && Quantity.TryParseBytes(b, out var bps) ? bps : null,
            MaxConnections = network.MaxConnections,
            Pins = [.. network.Resolve, .. extraPins ?? []],
            Secrets = secrets,
            TerminateTls = network.TerminateTls,
        };
    }
}

/// <summary>A secret and its value. <see cref="ToString"/> never shows the value.</summary>
public sealed record SecretValue(string Name, string Placeholder, IReadOnlyList<string> Domains, string Value)
{
    public bool IsFor(string host) => Domains.Any(d => EgressRule.DomainMatches(d, host));

    public override string ToString() => $"SecretValue {{ Name = {Name}, Domains = {string.Join(",", Domains)} }}";
}
