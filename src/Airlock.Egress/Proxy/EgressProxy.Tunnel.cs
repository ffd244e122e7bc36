using System.Diagnostics;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Airlock.Egress.Policy;

namespace Airlock.Egress.Proxy;

/// <summary>What happens inside an allowed tunnel: TLS termination, secret injection into the first request head,
/// or a plain relay.</summary>
public sealed partial class EgressProxy
{
    private static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1", "Server Authentication");

    /// <summary>Serves an allowed CONNECT or SOCKS tunnel whose first client bytes are <paramref name="first"/>
    /// (maybe none): terminated when the policy says so and they start a TLS handshake; with the first request head
    /// rewritten when the policy has secrets and they start like HTTP; else relayed untouched.</summary>
    private async Task TunnelAsync(string protocol, Stream client, byte[] first, string host, int port, EgressDecision decision, Socket upstream,
        Stopwatch sw, CancellationToken ct)
    {
        await using var up = new NetworkStream(upstream, ownsSocket: false);
        var policy = _engine.Policy;
        if (policy.TerminateTls && first.Length > 0 && first[0] == 0x16)
        {
            await TerminateAsync(protocol, client, first, host, port, decision, up, sw, ct).ConfigureAwait(false);
            return;
        }
        var findings = new SecretFindings();
        long bytesUp, bytesDown;
        if (policy.Secrets.Count > 0 && first.Length > 0 && first[0] is >= (byte)'A' and <= (byte)'Z')
        {
            (bytesUp, bytesDown) = await RelayAsync(client, up, ct, t => ForwardFirstHeadAsync(client, up, first, host, findings, t)).ConfigureAwait(false);
        }
        else
        {
            await TakeAsync(first.Length, ct).ConfigureAwait(false);
            await up.WriteAsync(first, ct).ConfigureAwait(false);
            (bytesUp, bytesDown) = await RelayAsync(client, up, ct).ConfigureAwait(false);
            bytesUp += first.Length;
        }
        Report(protocol, host, port, decision.Address!.ToString(), findings.Refused is null, findings.Refused is null ? decision.Rule : "malformed",
            decision.Reason, bytesUp, bytesDown, sw, findings);
    }

    /// <summary>Terminates the sandbox's TLS with a certificate from its CA, opens a validated TLS connection of the
    /// proxy's own to the checked upstream address (SNI: <paramref name="host"/>), and relays between the two with
    /// the first request head rewritten.</summary>
    private async Task TerminateAsync(string protocol, Stream client, byte[] hello, string host, int port, EgressDecision decision, NetworkStream up,
        Stopwatch sw, CancellationToken ct)
    {
        var address = decision.Address!.ToString();
        var name = SecretInjector.NormalizeHost(host);
        await using var clientTls = new SslStream(new PrefixedStream(client, hello), leaveInnerStreamOpen: true);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(_options.HeadTimeout);
            await clientTls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificateContext = _options.CertificateAuthority!.GetServerContext(name),
                ApplicationProtocols = [SslApplicationProtocol.Http11],
            }, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AuthenticationException or IOException or ArgumentException or CryptographicException
            || (e is OperationCanceledException && !ct.IsCancellationRequested))
        {
            Report(protocol, host, port, address, false, "client-tls",
                $"TLS handshake with the sandbox failed (does it trust its Airlock egress CA?): {e.Message}", 0, 0, sw, terminated: true);
            return;
        }

        string? problem = null;
        await using var upTls = new SslStream(up, leaveInnerStreamOpen: true);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(_options.ConnectTimeout);
            await upTls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = name,
                ApplicationProtocols = [SslApplicationProtocol.Http11],
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                RemoteCertificateValidationCallback = (_, cert, chain, errors) => (problem = UpstreamCertificateProblem(name, cert, chain, errors)) is null,
            }, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AuthenticationException or IOException || (e is OperationCanceledException && !ct.IsCancellationRequested))
        {
            var reason = problem ?? $"TLS handshake with {host}:{port} failed: {e.Message}";
            Report(protocol, host, port, address, false, "upstream-tls", reason, 0, 0, sw, terminated: true);
            await WriteHttpErrorAsync(clientTls, 502, "Bad Gateway", "airlock-egress: " + reason, "upstream-tls").ConfigureAwait(false);
            return;
        }

        var findings = new SecretFindings();
        Func<CancellationToken, Task<long>>? firstUp = _engine.Policy.Secrets.Count > 0
            ? t => ForwardFirstHeadAsync(clientTls, upTls, [], host, findings, t)
            : null;
        var (bytesUp, bytesDown) = await RelayAsync(clientTls, upTls, ct, firstUp).ConfigureAwait(false);
        try
        {
            await clientTls.ShutdownAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException or SocketException)
        {
        }
        Report(protocol, host, port, address, findings.Refused is null, findings.Refused is null ? decision.Rule : "malformed", decision.Reason,
            bytesUp, bytesDown, sw, findings, terminated: true);
    }

    /// <summary>Why an upstream certificate is not acceptable for <paramref name="host"/>, or null when it is: the
    /// system's verdict, except that a chain failing only for want of a trusted root may instead end at one of
    /// <see cref="EgressProxyOptions.UpstreamTrustedRoots"/>. A name mismatch is never forgiven.</summary>
    private string? UpstreamCertificateProblem(string host, X509Certificate? cert, X509Chain? chain, SslPolicyErrors errors)
    {
        if (errors == SslPolicyErrors.None)
        {
            return null;
        }
        if (cert is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            return $"upstream {host} presented no certificate";
        }
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            return $"upstream certificate ({cert.Subject}) does not name {host}";
        }
        var systemStatus = Describe(chain);
        if (_options.UpstreamTrustedRoots is not { Count: > 0 } roots)
        {
            return $"upstream certificate for {host} is not trusted: {systemStatus}";
        }
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(roots);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        custom.ChainPolicy.DisableCertificateDownloads = true;
        custom.ChainPolicy.ApplicationPolicy.Add(ServerAuthentication);
        if (chain is not null)
        {
            custom.ChainPolicy.ExtraStore.AddRange(chain.ChainPolicy.ExtraStore);
            foreach (var element in chain.ChainElements.Skip(1))
            {
                custom.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }
        using var leaf = cert as X509Certificate2 is { } c2 ? X509CertificateLoader.LoadCertificate(c2.RawData) : X509CertificateLoader.LoadCertificate(cert.GetRawCertData());
        return custom.Build(leaf) ? null : $"upstream certificate for {host} is not trusted (system roots: {systemStatus}; extra roots: {Describe(custom)})";

        static string Describe(X509Chain? c) => c is null || c.ChainStatus.Length == 0
            ? "chain error"
            : string.Join(", ", c.ChainStatus.Select(s => s.Status.ToString()).Distinct());
    }

    /// <summary>Moves the first request head of a tunnel upstream, rewritten (<see cref="SecretInjector.RewriteHead"/>);
    /// bytes that turn out not to be HTTP go as they are. Returns the bytes sent, or -1 to end the connection
    /// (a head too large to inspect: relaying it blind could carry a placeholder past the check).</summary>
    private async Task<long> ForwardFirstHeadAsync(Stream client, Stream up, byte[] first, string host, SecretFindings findings, CancellationToken ct)
    {
        var buf = new byte[Math.Max(MaxHead, first.Length)];
        first.CopyTo(buf, 0);
        var len = first.Length;
        while (true)
        {
            var kind = ClassifyRequestStart(buf.AsSpan(0, len));
            if (kind < 0)
            {
                // Not HTTP/1.x as the proxy reads it, so nothing is replaced; a placeholder in it for another host
                // is still noted.
                SecretInjector.Detect(Encoding.Latin1.GetString(buf, 0, len), host, _engine.Policy.Secrets, findings);
                await TakeAsync(len, ct).ConfigureAwait(false);
                await up.WriteAsync(buf.AsMemory(0, len), ct).ConfigureAwait(false);
                return len;
            }
            var end = kind > 0 ? IndexOfHeadEnd(buf.AsSpan(0, len)) : -1;
            if (end >= 0)
            {
                var head = Encoding.Latin1.GetBytes(SecretInjector.RewriteHead(Encoding.Latin1.GetString(buf, 0, end), host, _engine.Policy.Secrets, findings));
                var rest = buf.AsMemory(end + 4, len - end - 4);
                await TakeAsync(head.Length + rest.Length, ct).ConfigureAwait(false);
                await up.WriteAsync(head, ct).ConfigureAwait(false);
                await up.WriteAsync(rest, ct).ConfigureAwait(false);
                await up.FlushAsync(ct).ConfigureAwait(false);
                return head.Length + rest.Length;
            }
            if (len >= MaxHead)
            {
                findings.Refused = "request head larger than 16 KiB inside the tunnel; connection closed";
                return -1;
            }
            var n = await client.ReadAsync(buf.AsMemory(len, MaxHead - len), ct).ConfigureAwait(false);
            if (n == 0)
            {
                // The client stopped before finishing its head: nothing of it goes upstream.
                return -1;
            }
            len += n;
        }
    }

    /// <summary>Whether bytes start an HTTP/1.x request: 1 when a whole request line <c>METHOD TARGET HTTP/1.x</c>
    /// is there, 0 when they could still become one, -1 when they cannot.</summary>
    private static int ClassifyRequestStart(ReadOnlySpan<byte> b)
    {
        var i = 0;
        while (i < b.Length && i <= 20 && b[i] is >= (byte)'A' and <= (byte)'Z')
        {
            i++;
        }
        if (i == b.Length)
        {
            return i <= 20 ? 0 : -1;
        }
        if (i == 0 || b[i] != (byte)' ')
        {
            return -1;
        }
        var j = i + 1;
        while (j < b.Length && b[j] > 0x20 && b[j] != 0x7F)
        {
            j++;
        }
        if (j == b.Length)
        {
            return 0;
        }
        if (j == i + 1 || b[j] != (byte)' ')
        {
            return -1;
        }
        ReadOnlySpan<byte> version = "HTTP/1.x\r\n"u8;
        var rest = b[(j + 1)..];
        for (var k = 0; k < Math.Min(rest.Length, version.Length); k++)
        {
            var ok = k == 7 ? rest[k] is (byte)'0' or (byte)'1' : rest[k] == version[k];
            if (!ok)
            {
                return -1;
            }
        }
        return rest.Length >= version.Length ? 1 : 0;
    }

    /// <summary>Waits for whichever side of a fresh SOCKS tunnel speaks first: the client's first bytes (read, up
    /// to a whole TLS record), or none when the server speaks first (then nothing is read from the client).</summary>
    private static async Task<byte[]> ReadFirstClientBytesAsync(Stream client, Socket upstream, CancellationToken ct)
    {
        // Zero-byte reads wait for data without taking any, so the losing side is left as it was.
        var clientReady = client.ReadAsync(Memory<byte>.Empty, ct).AsTask();
        var upstreamReady = upstream.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, ct).AsTask();
        var winner = await Task.WhenAny(clientReady, upstreamReady).ConfigureAwait(false);
        _ = (winner == clientReady ? upstreamReady : (Task)clientReady).ContinueWith(static t => _ = t.Exception, CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        if (winner == upstreamReady)
        {
            return [];
        }
        await clientReady.ConfigureAwait(false);
        return await ReadClientHelloAsync(client, [], ct).ConfigureAwait(false);
    }
}
