using System.Net;
using System.Net.Sockets;

namespace Airlock.Core.Model;

/// <summary>
/// Network policy. <c>none</c> (default): the sandbox's own network namespace with only loopback. <c>egress</c>: the
/// same namespace plus a forwarder on 127.0.0.1 that relays to Airlock's egress proxy outside the sandbox, which
/// allows only what <see cref="Allow"/> names. Deny by default: a name must match an allow rule, an IP literal an
/// allow CIDR; private, loopback, link-local, metadata and other special ranges are refused even then, unless an
/// allow CIDR inside them names them or the name is pinned (<see cref="Resolve"/>).
/// </summary>
public sealed record NetworkSpec
{
    /// <summary><c>none</c> or <c>egress</c>.</summary>
    public string Mode { get; init; } = NetworkModes.None;

    /// <summary>Rules a connection must match (by domain, or by CIDR for IP literals).</summary>
    public IReadOnlyList<EgressRule> Allow { get; init; } = [];

    /// <summary>Rules that refuse a connection even when an allow rule matches.</summary>
    public IReadOnlyList<EgressRule> Deny { get; init; } = [];

    /// <summary>Bytes per second, both directions together, for the whole sandbox (e.g. <c>1Mi</c>); null: unlimited.</summary>
    public string? Bandwidth { get; init; }

    /// <summary>Connections open at once through the proxy.</summary>
    public int MaxConnections { get; init; } = 64;

    /// <summary>Names pinned to an address, like curl's <c>--resolve HOST:PORT:ADDR</c>: the proxy connects there
    /// without resolving, and the pin counts as an explicit allow for that name and port only.</summary>
    public IReadOnlyList<EgressPin> Resolve { get; init; } = [];

    /// <summary>Credentials the proxy adds at egress. Inside the sandbox only the placeholder
    /// <c>airlock-secret:NAME</c> exists; the proxy swaps it for the value in request headers sent to the secret's
    /// domains, and only there.</summary>
    public IReadOnlyList<EgressSecret> Secrets { get; init; } = [];

    /// <summary>Terminate TLS at the proxy (opt-in) so secrets can be injected into HTTPS requests and placeholders
    /// sent elsewhere detected: the proxy presents certificates from a CA generated for this sandbox alone and
    /// trusted only inside it, and checks the real server's certificate itself.</summary>
    public bool TerminateTls { get; init; }
}

public static class NetworkModes
{
    public const string None = "none";
    public const string Egress = "egress";
    public static readonly string[] All = [None, Egress];
}

/// <summary>One allow or deny rule: a domain (exact, or <c>*.example.com</c> for every name below it) or a CIDR, and
/// optionally the ports it covers (none: every port).</summary>
public sealed record EgressRule
{
    public string? Domain { get; init; }
    public string? Cidr { get; init; }
    public IReadOnlyList<int>? Ports { get; init; }

    /// <summary>Whether <paramref name="host"/> (lowercase, no trailing dot) matches a domain pattern.</summary>
    public static bool DomainMatches(string pattern, string host) =>
        pattern.StartsWith("*.", StringComparison.Ordinal)
            ? host.EndsWith(pattern[1..], StringComparison.Ordinal) && host.Length > pattern.Length - 1
            : pattern == host;
}

/// <summary>A name pinned to an address for one port.</summary>
public sealed record EgressPin
{
    public string Host { get; init; } = "";
    public int Port { get; init; }
    public string Address { get; init; } = "";

    public EgressPin() { }

    public EgressPin(string host, int port, string address) => (Host, Port, Address) = (host, port, address);

    /// <summary>Parses curl's <c>HOST:PORT:ADDR</c> (ADDR may be a bracketed IPv6 address).</summary>
    public static bool TryParse(string text, out EgressPin pin)
    {
        pin = new();
        var first = text.IndexOf(':');
        var second = first < 0 ? -1 : text.IndexOf(':', first + 1);
        if (first <= 0 || second < 0 || !int.TryParse(text.AsSpan(first + 1, second - first - 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port))
        {
            return false;
        }
        var addr = text[(second + 1)..].Trim('[', ']');
        pin = new EgressPin(text[..first].ToLowerInvariant(), port, addr);
        return true;
    }

    public override string ToString() => $"{Host}:{Port}:{Address}";
}

/// <summary>A credential injected at egress. The value comes from the environment (<see cref="FromEnv"/>) or a file
/// (<see cref="FromFile"/>) of the process that runs the proxy (the CLI or <c>airlock serve</c>), never from the
/// template, and never enters the sandbox.</summary>
public sealed record EgressSecret
{
    /// <summary>Name; the placeholder is <c>airlock-secret:NAME</c>.</summary>
    public string Name { get; init; } = "";

    /// <summary>Domains (exact or <c>*.suffix</c>) whose requests get the real value.</summary>
    public IReadOnlyList<string> Domains { get; init; } = [];

    /// <summary>Environment variable set inside the sandbox to the placeholder (optional).</summary>
    public string? Env { get; init; }

    /// <summary>Host environment variable holding the value.</summary>
    public string? FromEnv { get; init; }

    /// <summary>Host file holding the value (trailing newline removed).</summary>
    public string? FromFile { get; init; }

    public const string PlaceholderPrefix = "airlock-secret:";

    public string Placeholder => PlaceholderPrefix + Name;
}

/// <summary>Parsed CIDR block.</summary>
public readonly record struct Cidr(IPAddress Network, int PrefixLength)
{
    public static bool TryParse(string? text, out Cidr cidr)
    {
        cidr = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }
        var slash = text.IndexOf('/');
        var addr = slash < 0 ? text : text[..slash];
        if (!IPAddress.TryParse(addr, out var ip))
        {
            return false;
        }
        var max = ip.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        var len = max;
        if (slash >= 0 && (!int.TryParse(text[(slash + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out len) || len < 0 || len > max))
        {
            return false;
        }
        cidr = new Cidr(ip, len);
        return true;
    }

    public bool Contains(IPAddress ip)
    {
        if (ip.IsIPv4MappedToIPv6)
        {
            ip = ip.MapToIPv4();
        }
        if (ip.AddressFamily != Network.AddressFamily)
        {
            return false;
        }
        var a = ip.GetAddressBytes();
        var n = Network.GetAddressBytes();
        var bits = PrefixLength;
        for (var i = 0; i < a.Length && bits > 0; i++, bits -= 8)
        {
            var mask = bits >= 8 ? 0xFF : (byte)(0xFF << (8 - bits));
            if ((a[i] & mask) != (n[i] & mask))
            {
                return false;
            }
        }
        return true;
    }

    public override string ToString() => $"{Network}/{PrefixLength}";
}
