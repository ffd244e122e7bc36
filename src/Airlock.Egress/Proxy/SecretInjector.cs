using System.Text;
using Airlock.Core.Model;
using Airlock.Egress.Policy;

namespace Airlock.Egress.Proxy;

/// <summary>What the proxy did with secret placeholders on one connection (secret names, never values).</summary>
internal sealed class SecretFindings
{
    public List<string> Injected { get; } = [];
    public List<string> Withheld { get; } = [];

    /// <summary>Why the connection was cut short, when it was (e.g. a request head too large to inspect).</summary>
    public string? Refused { get; set; }

    public void Inject(string name)
    {
        if (!Injected.Contains(name))
        {
            Injected.Add(name);
        }
    }

    public void Withhold(string name)
    {
        if (!Withheld.Contains(name))
        {
            Withheld.Add(name);
        }
    }
}

/// <summary>
/// Replaces secret placeholders (<c>airlock-secret:NAME</c>) in HTTP request headers with the secret's value, only
/// when the request goes to a host the secret is for; a placeholder for any other host stays as it is and is recorded
/// as withheld (a possible exfiltration). Text is Latin-1 (one char per byte), as read off the wire.
/// </summary>
internal static class SecretInjector
{
    private const string Prefix = EgressSecret.PlaceholderPrefix;

    /// <summary>The host a secret's domains are matched against: lower case, no trailing dot, no brackets.</summary>
    public static string NormalizeHost(string host)
    {
        host = host.Trim().TrimEnd('.').ToLowerInvariant();
        return host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
    }

    /// <summary>Replaces the placeholders in a header value that are for <paramref name="host"/>; records the
    /// others as withheld. One pass: an inserted value is never scanned again.</summary>
    public static string Inject(string value, string host, IReadOnlyList<SecretValue> secrets, SecretFindings findings) =>
        Process(value, host, secrets, findings, inject: true);

    /// <summary>Records placeholders in <paramref name="text"/> (e.g. a request line, which is never rewritten) that
    /// go to a host they are not for.</summary>
    public static void Detect(string text, string host, IReadOnlyList<SecretValue> secrets, SecretFindings findings) =>
        Process(text, host, secrets, findings, inject: false);

    /// <summary>Rewrites a request head (request line and header lines, without the final blank line) for a
    /// connection to <paramref name="host"/>: the request line stays as it is (placeholders in it are only detected),
    /// header values get their placeholders replaced, and unless the request asks for an upgrade,
    /// <c>Connection: close</c> replaces the client's connection headers (see <see cref="EgressProxy"/> on why only
    /// the first request of a connection is inspected). Returns the head with its final CRLF CRLF.</summary>
    public static string RewriteHead(string head, string host, IReadOnlyList<SecretValue> secrets, SecretFindings findings)
    {
        var lines = head.Split("\r\n");
        Detect(lines[0], host, secrets, findings);
        var upgrade = lines.Skip(1).Any(l => HeaderName(l) is { } n && n.Equals("Upgrade", StringComparison.OrdinalIgnoreCase));
        var sb = new StringBuilder(head.Length + 64);
        sb.Append(lines[0]).Append("\r\n");
        var dropping = false;
        for (var i = 1; i < lines.Length; i++)
        {
            var line = lines[i];
            if (line.Length > 0 && line[0] is ' ' or '\t')
            {
                // Obsolete line folding: the value of the header above goes on.
                if (!dropping)
                {
                    sb.Append(Inject(line, host, secrets, findings)).Append("\r\n");
                }
                continue;
            }
            var name = HeaderName(line);
            dropping = !upgrade && name is not null
                && (name.Equals("Connection", StringComparison.OrdinalIgnoreCase) || name.Equals("Keep-Alive", StringComparison.OrdinalIgnoreCase));
            if (dropping)
            {
                Detect(line, host, secrets, findings);
                continue;
            }
            if (name is null)
            {
                // Not a header line; forwarded as it is (the server will refuse it), never given a secret.
                Detect(line, host, secrets, findings);
                sb.Append(line).Append("\r\n");
                continue;
            }
            sb.Append(line.AsSpan(0, name.Length + 1)).Append(Inject(line[(name.Length + 1)..], host, secrets, findings)).Append("\r\n");
        }
        if (!upgrade)
        {
            sb.Append("Connection: close\r\n");
        }
        return sb.Append("\r\n").ToString();
    }

    private static string? HeaderName(string line)
    {
        var colon = line.IndexOf(':', StringComparison.Ordinal);
        return colon > 0 ? line[..colon] : null;
    }

    private static string Process(string text, string host, IReadOnlyList<SecretValue> secrets, SecretFindings findings, bool inject)
    {
        var at = text.IndexOf(Prefix, StringComparison.OrdinalIgnoreCase);
        if (at < 0 || secrets.Count == 0)
        {
            return text;
        }
        host = NormalizeHost(host);
        var sb = inject ? new StringBuilder(text.Length + 64) : null;
        var from = 0;
        while (at >= 0)
        {
            var end = at + Prefix.Length;
            while (end < text.Length && IsNameChar(text[end]))
            {
                end++;
            }
            var name = text[(at + Prefix.Length)..end];
            // Matched without regard to case so that a placeholder in other letters sent elsewhere is still noted;
            // only the exact placeholder is ever replaced.
            var secret = secrets.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase));
            if (secret is not null)
            {
                if (!secret.IsFor(host))
                {
                    findings.Withhold(secret.Name);
                }
                else if (inject && name == secret.Name && string.CompareOrdinal(text, at, Prefix, 0, Prefix.Length) == 0)
                {
                    sb!.Append(text, from, at - from).Append(Latin1(secret.Value));
                    from = end;
                    findings.Inject(secret.Name);
                }
            }
            at = text.IndexOf(Prefix, end, StringComparison.OrdinalIgnoreCase);
        }
        return sb is null ? text : sb.Append(text, from, text.Length - from).ToString();
    }

    private static bool IsNameChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '-';

    /// <summary>The value as the bytes of its UTF-8 form, one char per byte (the head is written as Latin-1).</summary>
    private static string Latin1(string value) => Encoding.Latin1.GetString(Encoding.UTF8.GetBytes(value));
}
