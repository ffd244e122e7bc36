using System.Net;
using System.Net.Sockets;

namespace Airlock.Egress.Policy;

/// <summary>One allow or deny rule. A rule names a domain (exact, or <c>*.example.com</c> for every name below it) or
/// a CIDR, and optionally the ports it covers (none: every port).</summary>
public sealed record EgressRule
{
    public string? Domain { get; init; }
    public string? Cidr { get; init; }
    public IReadOnlyList<int>? Ports { get; init; }
}

/// <summary>Where a sandbox may connect. Deny by default: a name must match an allow rule, an IP literal an allow CIDR;
/// addresses in private, loopback, link-local, metadata and other special ranges are refused even then, unless an
/// allow CIDR names them or the name is pinned (<see cref="Pins"/>).</summary>
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
}

public sealed record EgressPin(string Host, int Port, string Address);

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
