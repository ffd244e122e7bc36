using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Airlock.Mcp.Manifests;

/// <summary>
/// The one byte form of a manifest and of a tool that is signed and compared: RFC 8785 (JCS) canonical JSON.
/// </summary>
/// <remarks>
/// <para>Object keys are sorted by UTF-16 code units, there is no insignificant whitespace, strings escape only
/// <c>"</c>, <c>\</c> and control characters (short forms where JSON has them, else <c>\u00xx</c>), everything else is
/// raw UTF-8, and numbers are written the way ECMAScript's <c>Number.prototype.toString</c> writes the nearest double
/// (<c>1.0</c>, <c>1e0</c> and <c>1</c> are all <c>1</c>). Tools are sorted by name; a JSON <c>null</c> and an absent
/// field are the same and are left out.</para>
/// <para>Where JCS would refuse input that an upstream server can still send, the form stays total and injective
/// instead, so that any change is still seen: a lone surrogate is written as a lowercase <c>\uXXXX</c> escape; an
/// integer a double cannot hold exactly keeps all of its digits; a number beyond the double range keeps its text; and
/// duplicate object keys are all kept, in the order received (parsers disagree on which one wins, so neither may be
/// dropped).</para>
/// </remarks>
public static class ManifestCanonical
{
    /// <summary>Version of the manifest payload; a verifier refuses others.</summary>
    public const int Version = 1;

    private const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'";

    /// <summary>The signed bytes of a manifest:
    /// <c>{"approvedAt":…,"approver":…,"server":…,"tools":[…],"version":1}</c>.</summary>
    /// <exception cref="ManifestException">Two tools share a name.</exception>
    public static byte[] Canonicalize(ToolManifest m)
    {
        ArgumentNullException.ThrowIfNull(m);
        var tools = m.Tools.OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        for (var i = 1; i < tools.Count; i++)
        {
            if (tools[i].Name == tools[i - 1].Name)
            {
                throw new ManifestException(ManifestException.Reasons.Invalid,
                    $"server '{m.Server}' lists tool '{tools[i].Name}' more than once; a manifest pins each name once");
            }
        }
        var sb = new StringBuilder();
        sb.Append("{\"approvedAt\":");
        WriteString(sb, FormatTime(m.ApprovedAt));
        if (m.Approver is not null)
        {
            sb.Append(",\"approver\":");
            WriteString(sb, m.Approver);
        }
        sb.Append(",\"server\":");
        WriteString(sb, m.Server);
        sb.Append(",\"tools\":[");
        for (var i = 0; i < tools.Count; i++)
        {
            if (i > 0)
            {
                sb.Append(',');
            }
            WriteTool(sb, tools[i]);
        }
        sb.Append("],\"version\":").Append(Version).Append('}');
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    /// <summary>The canonical JSON of one tool: <c>{"annotations":…,"description":…,"inputSchema":…,"name":…}</c>.</summary>
    public static byte[] CanonicalizeTool(ToolRecord t)
    {
        ArgumentNullException.ThrowIfNull(t);
        var sb = new StringBuilder();
        WriteTool(sb, t);
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    /// <summary><c>sha256:&lt;lowercase hex&gt;</c> of <see cref="CanonicalizeTool"/>.</summary>
    public static string ToolDigest(ToolRecord t) => Sha256(CanonicalizeTool(t));

    /// <summary>The canonical JSON text of one value (null when absent or JSON null); what pinning compares per
    /// field.</summary>
    public static string? CanonicalValue(JsonElement? value)
    {
        if (IsAbsent(value))
        {
            return null;
        }
        var sb = new StringBuilder();
        WriteValue(sb, value!.Value);
        return sb.ToString();
    }

    internal static string Sha256(ReadOnlySpan<byte> bytes) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));

    internal static string FormatTime(DateTimeOffset t) => t.UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture);

    /// <summary>Reads a payload that must be exactly what <see cref="Canonicalize"/> writes; call only on verified
    /// bytes.</summary>
    internal static ToolManifest Parse(byte[] payload)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(payload);
        }
        catch (JsonException e)
        {
            throw Malformed($"not JSON: {e.Message}");
        }
        ToolManifest manifest;
        using (doc)
        {
            try
            {
                manifest = ParseRoot(doc.RootElement);
            }
            catch (InvalidOperationException e)
            {
                throw Malformed(e.Message); // e.g. a lone surrogate in a field name
            }
        }
        byte[] again;
        try
        {
            again = Canonicalize(manifest);
        }
        catch (ManifestException e)
        {
            throw Malformed(e.Message);
        }
        if (!again.AsSpan().SequenceEqual(payload))
        {
            throw Malformed("not in canonical form (RFC 8785); sign it with airlock mcp sign");
        }
        return manifest;
    }

    private static ToolManifest ParseRoot(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw Malformed("not a JSON object");
        }
        string? server = null, approver = null;
        DateTimeOffset? approvedAt = null;
        List<ToolRecord>? tools = null;
        var version = -1;
        foreach (var p in root.EnumerateObject())
        {
            switch (p.Name)
            {
                case "version":
                    version = p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetInt32(out var v) ? v : -1;
                    break;
                case "server":
                    server = StringOf(p.Value, "server");
                    break;
                case "approver":
                    approver = StringOf(p.Value, "approver");
                    break;
                case "approvedAt":
                    approvedAt = DateTimeOffset.TryParseExact(StringOf(p.Value, "approvedAt"), TimeFormat, CultureInfo.InvariantCulture,
                        DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at)
                        ? at
                        : throw Malformed("approvedAt is not a UTC timestamp (yyyy-MM-ddTHH:mm:ss.fffffffZ)");
                    break;
                case "tools":
                    tools = ParseTools(p.Value);
                    break;
                default:
                    throw Malformed($"unknown field '{p.Name}'");
            }
        }
        if (version != Version)
        {
            throw Malformed($"version must be {Version}");
        }
        return new ToolManifest(
            server ?? throw Malformed("server is missing"),
            tools ?? throw Malformed("tools is missing"),
            approvedAt ?? throw Malformed("approvedAt is missing"),
            approver);
    }

    private static List<ToolRecord> ParseTools(JsonElement tools)
    {
        if (tools.ValueKind != JsonValueKind.Array)
        {
            throw Malformed("tools must be an array");
        }
        var result = new List<ToolRecord>();
        var i = 0;
        foreach (var t in tools.EnumerateArray())
        {
            if (t.ValueKind != JsonValueKind.Object)
            {
                throw Malformed($"tools[{i}] must be an object");
            }
            string? name = null, description = null;
            JsonElement? schema = null, annotations = null;
            foreach (var p in t.EnumerateObject())
            {
                switch (p.Name)
                {
                    case "name":
                        name = StringOf(p.Value, $"tools[{i}].name");
                        break;
                    case "description":
                        description = StringOf(p.Value, $"tools[{i}].description");
                        break;
                    case "inputSchema":
                        schema = p.Value.Clone();
                        break;
                    case "annotations":
                        annotations = p.Value.Clone();
                        break;
                    default:
                        throw Malformed($"tools[{i}] has unknown field '{p.Name}'");
                }
            }
            result.Add(new ToolRecord(name ?? throw Malformed($"tools[{i}].name is missing"), description, schema, annotations));
            i++;
        }
        return result;
    }

    private static string StringOf(JsonElement e, string field) =>
        e.ValueKind == JsonValueKind.String ? Unescape(Unquote(JsonMarshal.GetRawUtf8Value(e))) : throw Malformed($"{field} must be a string");

    private static ManifestException Malformed(string why) => new(ManifestException.Reasons.MalformedPayload, "malformed manifest payload: " + why);

    private static bool IsAbsent(JsonElement? e) => e is not { } v || v.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined;

    private static void WriteTool(StringBuilder sb, ToolRecord t)
    {
        ArgumentNullException.ThrowIfNull(t.Name);
        sb.Append('{');
        var first = true;
        if (!IsAbsent(t.Annotations))
        {
            sb.Append("\"annotations\":");
            WriteValue(sb, t.Annotations!.Value);
            first = false;
        }
        if (t.Description is not null)
        {
            sb.Append(first ? "" : ",").Append("\"description\":");
            WriteString(sb, t.Description);
            first = false;
        }
        if (!IsAbsent(t.InputSchema))
        {
            sb.Append(first ? "" : ",").Append("\"inputSchema\":");
            WriteValue(sb, t.InputSchema!.Value);
            first = false;
        }
        sb.Append(first ? "" : ",").Append("\"name\":");
        WriteString(sb, t.Name);
        sb.Append('}');
    }

    private static void WriteValue(StringBuilder sb, JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                // Names are unescaped from the raw bytes: JsonProperty.Name throws on a lone surrogate escape.
                // OrderBy is stable, so duplicate keys keep the order they came in.
                var props = e.EnumerateObject()
                    .Select(p => (Key: Unescape(JsonMarshal.GetRawUtf8PropertyName(p)), p.Value))
                    .OrderBy(p => p.Key, StringComparer.Ordinal)
                    .ToList();
                sb.Append('{');
                for (var i = 0; i < props.Count; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(',');
                    }
                    WriteString(sb, props[i].Key);
                    sb.Append(':');
                    WriteValue(sb, props[i].Value);
                }
                sb.Append('}');
                break;
            case JsonValueKind.Array:
                sb.Append('[');
                var n = 0;
                foreach (var item in e.EnumerateArray())
                {
                    if (n++ > 0)
                    {
                        sb.Append(',');
                    }
                    WriteValue(sb, item);
                }
                sb.Append(']');
                break;
            case JsonValueKind.String:
                WriteString(sb, Unescape(Unquote(JsonMarshal.GetRawUtf8Value(e))));
                break;
            case JsonValueKind.Number:
                sb.Append(FormatNumber(Encoding.ASCII.GetString(JsonMarshal.GetRawUtf8Value(e))));
                break;
            case JsonValueKind.True:
                sb.Append("true");
                break;
            case JsonValueKind.False:
                sb.Append("false");
                break;
            default:
                sb.Append("null");
                break;
        }
    }

    private static ReadOnlySpan<byte> Unquote(ReadOnlySpan<byte> raw) => raw[1..^1];

    /// <summary>JSON string body (valid UTF-8, as the parser checked it) to UTF-16, keeping lone surrogates that
    /// <c>\uXXXX</c> escapes may produce.</summary>
    internal static string Unescape(ReadOnlySpan<byte> body)
    {
        if (body.IndexOf((byte)'\\') < 0)
        {
            return Encoding.UTF8.GetString(body);
        }
        var sb = new StringBuilder(body.Length);
        while (body.Length > 0)
        {
            var bs = body.IndexOf((byte)'\\');
            if (bs < 0)
            {
                sb.Append(Encoding.UTF8.GetString(body));
                break;
            }
            sb.Append(Encoding.UTF8.GetString(body[..bs]));
            var c = (char)body[bs + 1];
            var used = 2;
            switch (c)
            {
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'n': sb.Append('\n'); break;
                case 'r': sb.Append('\r'); break;
                case 't': sb.Append('\t'); break;
                case 'u':
                    sb.Append((char)int.Parse(Encoding.ASCII.GetString(body.Slice(bs + 2, 4)), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture));
                    used = 6;
                    break;
                default: sb.Append(c); break; // " \ /
            }
            body = body[(bs + used)..];
        }
        return sb.ToString();
    }

    internal static void WriteString(StringBuilder sb, string s)
    {
        sb.Append('"');
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20)
                    {
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
                    {
                        sb.Append(c).Append(s[++i]);
                    }
                    else if (char.IsSurrogate(c))
                    {
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append(c);
                    }
                    break;
            }
        }
        sb.Append('"');
    }

    /// <summary>A JSON number token in canonical form (see the remarks of the class).</summary>
    internal static string FormatNumber(string token)
    {
        var d = double.Parse(token, NumberStyles.Float, CultureInfo.InvariantCulture);
        if (!double.IsFinite(d))
        {
            return token;
        }
        if (token.Length > 15 && IsPlainInteger(token))
        {
            var exact = BigInteger.Parse(token, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            if (exact != new BigInteger(d))
            {
                return exact.ToString(CultureInfo.InvariantCulture);
            }
        }
        return FormatDouble(d);
    }

    private static bool IsPlainInteger(string token)
    {
        var s = token.StartsWith('-') ? token.AsSpan(1) : token.AsSpan();
        return s.Length > 0 && !s.ContainsAnyExcept("0123456789");
    }

    /// <summary>ECMAScript Number::toString (ECMA-262 §6.1.6.1.20) of a finite double, as RFC 8785 §3.2.2.3 asks.</summary>
    internal static string FormatDouble(double d)
    {
        if (d == 0)
        {
            return "0"; // also -0
        }
        // "R" is the shortest string that round-trips, which is the digit choice ECMAScript makes too.
        var r = d.ToString("R", CultureInfo.InvariantCulture);
        var negative = r[0] == '-';
        if (negative)
        {
            r = r[1..];
        }
        var exp = 0;
        var e = r.IndexOf('E', StringComparison.Ordinal);
        if (e >= 0)
        {
            exp = int.Parse(r[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            r = r[..e];
        }
        var dot = r.IndexOf('.', StringComparison.Ordinal);
        var digits = dot >= 0 ? r[..dot] + r[(dot + 1)..] : r;
        var intLen = dot >= 0 ? dot : r.Length;
        var trimmed = digits.TrimStart('0');
        intLen -= digits.Length - trimmed.Length;
        digits = trimmed.TrimEnd('0');
        var k = digits.Length;
        var n = intLen + exp; // value = 0.digits × 10^n
        var sb = new StringBuilder(negative ? "-" : "");
        if (k <= n && n <= 21)
        {
            sb.Append(digits).Append('0', n - k);
        }
        else if (0 < n && n <= 21)
        {
            sb.Append(digits, 0, n).Append('.').Append(digits, n, k - n);
        }
        else if (-6 < n && n <= 0)
        {
            sb.Append("0.").Append('0', -n).Append(digits);
        }
        else
        {
            sb.Append(digits[0]);
            if (k > 1)
            {
                sb.Append('.').Append(digits, 1, k - 1);
            }
            sb.Append('e').Append(n - 1 >= 0 ? "+" : "-").Append(Math.Abs(n - 1));
        }
        return sb.ToString();
    }
}
