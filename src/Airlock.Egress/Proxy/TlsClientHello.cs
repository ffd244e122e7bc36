using System.Buffers.Binary;
using System.Text;

namespace Airlock.Egress.Proxy;

/// <summary>Reads the server_name (SNI) of a TLS ClientHello (RFC 8446 §4.1.2, RFC 6066 §3) from the first record,
/// without decrypting anything. Returns null when the bytes are not a ClientHello or carry no host name.</summary>
public static class TlsClientHello
{
    public static string? TryGetServerName(ReadOnlySpan<byte> record)
    {
        try
        {
            // Record header: type 22 (handshake), version, length.
            if (record.Length < 5 || record[0] != 0x16)
            {
                return null;
            }
            var body = record[5..Math.Min(record.Length, 5 + BinaryPrimitives.ReadUInt16BigEndian(record[3..]))];
            // Handshake header: type 1 (client_hello), 24-bit length.
            if (body.Length < 4 || body[0] != 0x01)
            {
                return null;
            }
            var p = body[4..];
            p = p[(2 + 32)..];                       // legacy_version, random
            p = p[(1 + p[0])..];                     // legacy_session_id
            p = p[(2 + BinaryPrimitives.ReadUInt16BigEndian(p))..]; // cipher_suites
            p = p[(1 + p[0])..];                     // legacy_compression_methods
            if (p.Length < 2)
            {
                return null;
            }
            var extLen = BinaryPrimitives.ReadUInt16BigEndian(p);
            p = p[2..Math.Min(p.Length, 2 + extLen)];
            while (p.Length >= 4)
            {
                var type = BinaryPrimitives.ReadUInt16BigEndian(p);
                var len = BinaryPrimitives.ReadUInt16BigEndian(p[2..]);
                var data = p[4..(4 + len)];
                p = p[(4 + len)..];
                if (type != 0)
                {
                    continue;
                }
                // server_name_list: u16 length, then entries (u8 type, u16 length, name).
                var list = data[2..(2 + BinaryPrimitives.ReadUInt16BigEndian(data))];
                while (list.Length >= 3)
                {
                    var nameType = list[0];
                    var nameLen = BinaryPrimitives.ReadUInt16BigEndian(list[1..]);
                    var name = list[3..(3 + nameLen)];
                    if (nameType == 0)
                    {
                        return Encoding.ASCII.GetString(name);
                    }
                    list = list[(3 + nameLen)..];
                }
            }
            return null;
        }
        catch (ArgumentOutOfRangeException)
        {
            // Truncated or malformed: no name to check.
            return null;
        }
    }
}
