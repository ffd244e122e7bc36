using System.Net;
using System.Net.Sockets;
using Airlock.Core.Model;

namespace Airlock.Egress.Policy;

/// <summary>Resolves names for the proxy (the sandbox has no resolver of its own).</summary>
public interface IEgressResolver
{
    Task<IReadOnlyList<IPAddress>> ResolveAsync(string host, CancellationToken ct);
}

/// <summary>The system resolver.</summary>
public sealed class SystemResolver : IEgressResolver
{
    public async Task<IReadOnlyList<IPAddress>> ResolveAsync(string host, CancellationToken ct) =>
        await Dns.GetHostAddressesAsync(host, ct).ConfigureAwait(false);
}

/// <summary>A fixed map (tests, and names the operator wants answered without DNS); unknown names fail.</summary>
public sealed class MapResolver(IReadOnlyDictionary<string, IPAddress[]> map) : IEgressResolver
{
    public Task<IReadOnlyList<IPAddress>> ResolveAsync(string host, CancellationToken ct) =>
        map.TryGetValue(host, out var a) ? Task.FromResult<IReadOnlyList<IPAddress>>(a)
            : Task.FromException<IReadOnlyList<IPAddress>>(new SocketException((int)SocketError.HostNotFound));
}

/// <summary>What the policy says about one connection attempt.</summary>
/// <param name="Allowed">Whether to connect.</param>
/// <param name="Rule">The rule that decided: <c>allow[i]</c>, <c>pin</c>, <c>deny[i]</c>, <c>no-allow-rule</c>,
/// <c>default-deny:RANGE</c>, <c>resolve-failed</c>.</param>
/// <param name="Address">Where to connect (checked; the proxy never resolves twice).</param>
public sealed record EgressDecision(bool Allowed, string Rule, IPEndPoint? Address, string Reason);

/// <summary>Decides connection attempts against an <see cref="EgressPolicy"/>.</summary>
public sealed class PolicyEngine(EgressPolicy policy, IEgressResolver resolver)
{
    /// <summary>Ranges refused unless an allow CIDR names them or the name is pinned: loopback, RFC 1918, CGNAT,
    /// link-local (cloud metadata 169.254.169.254 among them), unique-local, multicast, unspecified, documentation
    /// and benchmarking nets, IPv4-mapped and NAT64 prefixes.</summary>
    public static readonly (Cidr Range, string Name)[] DefaultDenied =
    [
        .. new (string, string)[]
        {
            ("0.0.0.0/8", "unspecified"), ("10.0.0.0/8", "private"), ("100.64.0.0/10", "cgnat"), ("127.0.0.0/8", "loopback"),
            ("169.254.0.0/16", "link-local/metadata"), ("172.16.0.0/12", "private"), ("192.0.0.0/24", "ietf"), ("192.0.2.0/24", "documentation"),
            ("192.168.0.0/16", "private"), ("198.18.0.0/15", "benchmarking"), ("198.51.100.0/24", "documentation"), ("203.0.113.0/24", "documentation"),
            ("224.0.0.0/4", "multicast"), ("240.0.0.0/4", "reserved"), ("255.255.255.255/32", "broadcast"),
            ("::/128", "unspecified"), ("::1/128", "loopback"), ("fc00::/7", "unique-local"), ("fe80::/10", "link-local"),
            ("ff00::/8", "multicast"), ("64:ff9b::/96", "nat64"), ("2001:db8::/32", "documentation"), ("fd00:ec2::254/128", "metadata"),
        }.Select(x => (Cidr.TryParse(x.Item1, out var c) ? c : throw new InvalidOperationException(x.Item1), x.Item2)),
    ];

    public EgressPolicy Policy => policy;

    public async Task<EgressDecision> DecideAsync(string host, int port, CancellationToken ct)
    {
        host = host.Trim().TrimEnd('.').ToLowerInvariant();
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }
        if (port is < 1 or > 65535)
        {
            return Deny("bad-port", $"port {port} is not a port");
        }
        if (IPAddress.TryParse(host, out var literal))
        {
            return DecideAddress(literal, port, requireAllowCidr: true, allowedBy: null);
        }
        for (var i = 0; i < policy.Deny.Count; i++)
        {
            var r = policy.Deny[i];
            if (r.Domain is { } d && EgressRule.DomainMatches(d, host) && PortMatches(r, port))
            {
                return Deny($"deny[{i}]", $"{host}:{port} is denied by rule {d}");
            }
        }
        foreach (var pin in policy.Pins)
        {
            if (pin.Host == host && pin.Port == port && IPAddress.TryParse(pin.Address, out var pinned))
            {
                // Explicitly pinned: allowed for this name and port, whatever the range.
                return new EgressDecision(true, "pin", new IPEndPoint(pinned, port), $"{host}:{port} is pinned to {pinned}");
            }
        }
        string? allowedBy = null;
        for (var i = 0; i < policy.Allow.Count && allowedBy is null; i++)
        {
            var r = policy.Allow[i];
            if (r.Domain is { } d && EgressRule.DomainMatches(d, host) && PortMatches(r, port))
            {
                allowedBy = $"allow[{i}]";
            }
        }
        if (allowedBy is null)
        {
            return Deny("no-allow-rule", $"{host}:{port} matches no allow rule");
        }
        IReadOnlyList<IPAddress> addresses;
        try
        {
            addresses = await resolver.ResolveAsync(host, ct).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            return Deny("resolve-failed", $"{host} does not resolve: {e.SocketErrorCode}");
        }
        // Every answer is checked (no rebinding to a denied range); the first allowed one is used.
        EgressDecision? firstDenial = null;
        foreach (var a in addresses)
        {
            var d = DecideAddress(a, port, requireAllowCidr: false, allowedBy);
            if (d.Allowed)
            {
                return d;
            }
            firstDenial ??= d;
        }
        return firstDenial ?? Deny("resolve-failed", $"{host} has no address");
    }

    private EgressDecision DecideAddress(IPAddress ip, int port, bool requireAllowCidr, string? allowedBy)
    {
        if (ip.IsIPv4MappedToIPv6)
        {
            ip = ip.MapToIPv4();
        }
        for (var i = 0; i < policy.Deny.Count; i++)
        {
            var r = policy.Deny[i];
            if (r.Cidr is { } c && Cidr.TryParse(c, out var cidr) && cidr.Contains(ip) && PortMatches(r, port))
            {
                return Deny($"deny[{i}]", $"{ip}:{port} is denied by rule {c}");
            }
        }
        // An address in a default-denied range needs an allow cidr inside that range (0.0.0.0/0 does not count as
        // naming 169.254.169.254); any other address needs an allow cidr (IP literal) or the name's allow rule.
        var range = DefaultDenied.FirstOrDefault(d => d.Range.Contains(ip));
        for (var i = 0; i < policy.Allow.Count; i++)
        {
            var r = policy.Allow[i];
            if (r.Cidr is { } c && Cidr.TryParse(c, out var cidr) && cidr.Contains(ip) && PortMatches(r, port)
                && (range.Name is null || (cidr.PrefixLength >= range.Range.PrefixLength && range.Range.Contains(cidr.Network))))
            {
                return new EgressDecision(true, $"allow[{i}]", new IPEndPoint(ip, port), $"{ip}:{port} allowed by {c}");
            }
        }
        if (range.Name is not null)
        {
            return Deny("default-deny:" + range.Name, $"{ip} is in a {range.Name} range ({range.Range}), refused unless an allow cidr inside it names it");
        }
        if (requireAllowCidr || allowedBy is null)
        {
            return Deny("no-allow-rule", $"{ip}:{port} matches no allow rule");
        }
        return new EgressDecision(true, allowedBy, new IPEndPoint(ip, port), $"{ip}:{port} allowed");
    }

    private static bool PortMatches(EgressRule r, int port) => r.Ports is null || r.Ports.Contains(port);

    private static EgressDecision Deny(string rule, string reason) => new(false, rule, null, reason);
}
