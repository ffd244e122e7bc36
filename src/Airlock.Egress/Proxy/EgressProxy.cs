using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Airlock.Core.Model;
using Airlock.Egress.Policy;

namespace Airlock.Egress.Proxy;

/// <summary>One connection the proxy decided on: what was asked, what the policy said, how much went each way.</summary>
public sealed record EgressEvent(
    string Sandbox, string Protocol, string Host, int Port, string? Address, bool Allowed, string Rule, string Reason,
    long BytesUp, long BytesDown, double DurationMs)
{
    /// <summary>Secrets whose placeholder was replaced by the value on this connection (names only); null: none.</summary>
    public IReadOnlyList<string>? SecretsInjected { get; init; }

    /// <summary>Secrets whose placeholder was sent to a host they are not for, and so was not replaced: a possible
    /// exfiltration (the <see cref="Reason"/> says so); null: none.</summary>
    public IReadOnlyList<string>? SecretsWithheld { get; init; }

    /// <summary>Whether the proxy terminated TLS on this connection (policy <c>terminateTls</c>).</summary>
    public bool Terminated { get; init; }
}

public sealed record EgressProxyOptions
{
    /// <summary>The sandbox the proxy serves (named in every event).</summary>
    public string Sandbox { get; init; } = "";

    /// <summary>Called once per connection attempt when it ends (allowed or not).</summary>
    public Action<EgressEvent>? Audit { get; init; }

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a client may take to send its request head.</summary>
    public TimeSpan HeadTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>The sandbox's certificate authority, which issues the certificates the proxy presents when the policy
    /// terminates TLS (<see cref="EgressPolicy.TerminateTls"/>); required then. The proxy does not dispose it.</summary>
    public SandboxCa? CertificateAuthority { get; init; }

    /// <summary>Roots the proxy trusts, besides the system's, when it checks an upstream server's certificate on a
    /// terminated connection (e.g. a local test server's self-signed certificate). The chain and the name are always
    /// checked.</summary>
    public X509Certificate2Collection? UpstreamTrustedRoots { get; init; }
}

/// <summary>
/// The egress proxy of one sandbox: an HTTP forward proxy (absolute-form requests), <c>CONNECT</c> tunnels whose TLS
/// ClientHello must name the CONNECT host, and SOCKS5 (TCP CONNECT), told apart by the first byte. The proxy resolves
/// names itself, checks every resolved address against the policy and connects to the checked address; bandwidth
/// and connection count are limited per sandbox; every attempt is reported to <see cref="EgressProxyOptions.Audit"/>.
/// <para>
/// Secrets (<see cref="EgressPolicy.Secrets"/>) are injected at egress: a placeholder <c>airlock-secret:NAME</c> in a
/// request header becomes the secret's value only when the connection's host (the one the policy decided on: the
/// absolute URL's, the CONNECT or the SOCKS host) is one of the secret's domains; elsewhere it is left as it is and
/// the connection is audited as a possible exfiltration. Plain HTTP (forward requests, and plaintext HTTP inside
/// CONNECT and SOCKS tunnels) is always inspected when the policy has secrets; HTTPS only when the policy terminates
/// TLS (<see cref="EgressPolicy.TerminateTls"/>): the proxy then presents a certificate from the sandbox's own CA
/// (<see cref="SandboxCa"/>) and opens its own TLS connection to the checked upstream address, validating the
/// server's certificate (chain and name). Without termination, HTTPS tunnels are relayed untouched and nothing can be
/// injected into them.
/// </para>
/// <para>
/// Request parsing: only the first request head of a connection is parsed and rewritten, and the proxy sends it with
/// <c>Connection: close</c> (unless it asks for an <c>Upgrade</c>), so the server ends the connection after its
/// answer; whatever follows that head (its body, anything pipelined after it) is relayed as bytes and never
/// rewritten. A connection is bound to the one host the policy decided on, so a later request on it can reach only
/// that host and can never receive a secret: the worst it can do is carry a placeholder unreplaced (and, being after
/// <c>Connection: close</c>, normally unread). This keeps the parser small (no body framing to get wrong) at the cost
/// of keep-alive on inspected connections.
/// </para>
/// </summary>
public sealed partial class EgressProxy
{
    private const int MaxHead = 16 << 10;
    private readonly PolicyEngine _engine;
    private readonly EgressProxyOptions _options;
    private readonly SemaphoreSlim _connections;
    private readonly TokenBucket? _bandwidth;

    public EgressProxy(PolicyEngine engine, EgressProxyOptions? options = null)
    {
        _engine = engine;
        _options = options ?? new EgressProxyOptions();
        if (engine.Policy.TerminateTls && _options.CertificateAuthority is null)
        {
            throw new ArgumentException(
                "EgressProxyOptions.CertificateAuthority is required: the policy terminates TLS (network.terminateTls: true), " +
                "so the proxy needs the sandbox's CA (new SandboxCa(sandbox)) to issue the certificates it presents", nameof(options));
        }
        _connections = new SemaphoreSlim(engine.Policy.MaxConnections);
        _bandwidth = engine.Policy.BandwidthBytesPerSecond is { } bps ? new TokenBucket(bps) : null;
    }

    /// <summary>Accepts connections on <paramref name="listener"/> (TCP or Unix) until cancelled; then ends the open
    /// connections (cancelled with it) and returns once each has been reported, so no audit event is lost.</summary>
    public async Task ServeAsync(Socket listener, CancellationToken ct)
    {
        var open = new System.Collections.Concurrent.ConcurrentDictionary<Task, byte>();
        while (!ct.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException || (e is SocketException && ct.IsCancellationRequested))
            {
                break;
            }
            if (client.AddressFamily != AddressFamily.Unix)
            {
                client.NoDelay = true;
            }
            var task = Task.Run(async () =>
            {
                await using var stream = new NetworkStream(client, ownsSocket: true);
                await HandleAsync(stream, ct).ConfigureAwait(false);
            }, CancellationToken.None);
            open.TryAdd(task, 0);
            _ = task.ContinueWith(t => open.TryRemove(t, out _), TaskScheduler.Default);
        }
        await Task.WhenAny(Task.WhenAll(open.Keys), Task.Delay(TimeSpan.FromSeconds(5), CancellationToken.None)).ConfigureAwait(false);
    }

    /// <summary>Serves one client connection.</summary>
    public async Task HandleAsync(Stream client, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        if (!_connections.Wait(0))
        {
            Report("tcp", "", 0, null, false, "max-connections", $"more than {_engine.Policy.MaxConnections} connections at once", 0, 0, sw);
            await WriteHttpErrorAsync(client, 429, "Too Many Requests", $"airlock-egress: more than {_engine.Policy.MaxConnections} connections at once", "max-connections").ConfigureAwait(false);
            return;
        }
        try
        {
            using var headTimeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            headTimeout.CancelAfter(_options.HeadTimeout);
            var first = new byte[1];
            if (await client.ReadAsync(first, headTimeout.Token).ConfigureAwait(false) == 0)
            {
                return;
            }
            if (first[0] == 0x05)
            {
                await Socks5Async(client, sw, headTimeout.Token, ct).ConfigureAwait(false);
            }
            else
            {
                await HttpAsync(client, first[0], sw, headTimeout.Token, ct).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException
            or System.Security.Authentication.AuthenticationException)
        {
            // The client went away or was too slow; nothing to answer.
        }
        finally
        {
            _connections.Release();
        }
    }

    // ------------------------------------------------------------------ HTTP and CONNECT

    private async Task HttpAsync(Stream client, byte firstByte, Stopwatch sw, CancellationToken headCt, CancellationToken ct)
    {
        var head = await ReadHeadAsync(client, firstByte, headCt).ConfigureAwait(false);
        if (head is null)
        {
            Report("http", "", 0, null, false, "malformed", "malformed request head", 0, 0, sw);
            await WriteHttpErrorAsync(client, 400, "Bad Request", "airlock-egress: the request head is malformed or larger than 16 KiB", "malformed").ConfigureAwait(false);
            return;
        }
        var (requestLine, headers, rest) = head.Value;
        var parts = requestLine.Split(' ');
        if (parts.Length != 3 || !parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal))
        {
            Report("http", "", 0, null, false, "malformed", "bad request line", 0, 0, sw);
            await WriteHttpErrorAsync(client, 400, "Bad Request", $"airlock-egress: '{Clip(requestLine)}' is not an HTTP/1.x request line", "malformed").ConfigureAwait(false);
            return;
        }
        var (method, target) = (parts[0], parts[1]);
        if (method == "CONNECT")
        {
            if (!TrySplitHostPort(target, out var host, out var port))
            {
                Report("connect", target, 0, null, false, "malformed", "bad CONNECT target", 0, 0, sw);
                await WriteHttpErrorAsync(client, 400, "Bad Request", $"airlock-egress: CONNECT target '{Clip(target)}' is not host:port", "malformed").ConfigureAwait(false);
                return;
            }
            await ConnectTunnelAsync(client, host, port, rest, sw, ct).ConfigureAwait(false);
            return;
        }
        if (!Uri.TryCreate(target, UriKind.Absolute, out var uri) || uri.Scheme != "http")
        {
            await WriteHttpErrorAsync(client, 400, "Bad Request",
                $"airlock-egress: '{Clip(target)}' is not an absolute http:// URL (use CONNECT for https)", "malformed").ConfigureAwait(false);
            Report("http", "", 0, null, false, "malformed", "not an absolute http URL", 0, 0, sw);
            return;
        }
        var decision = await _engine.DecideAsync(uri.IdnHost, uri.Port, ct).ConfigureAwait(false);
        if (!decision.Allowed)
        {
            Report("http", uri.IdnHost, uri.Port, null, false, decision.Rule, decision.Reason, 0, 0, sw);
            await WriteHttpErrorAsync(client, 403, "Forbidden", "airlock-egress: " + decision.Reason, decision.Rule).ConfigureAwait(false);
            return;
        }
        using var upstream = await ConnectAsync(decision.Address!, ct).ConfigureAwait(false);
        if (upstream is null)
        {
            Report("http", uri.IdnHost, uri.Port, decision.Address!.ToString(), true, decision.Rule, "connect failed", 0, 0, sw);
            await WriteHttpErrorAsync(client, 502, "Bad Gateway", $"airlock-egress: cannot connect to {decision.Address}", decision.Rule).ConfigureAwait(false);
            return;
        }
        await using var up = new NetworkStream(upstream, ownsSocket: false);
        // Origin-form request line; proxy headers dropped; one request per connection (see the class remarks).
        var findings = new SecretFindings();
        var secrets = _engine.Policy.Secrets;
        SecretInjector.Detect(requestLine, uri.IdnHost, secrets, findings);
        var sb = new StringBuilder();
        sb.Append(method).Append(' ').Append(uri.PathAndQuery).Append(' ').Append(parts[2]).Append("\r\n");
        foreach (var (name, value) in headers)
        {
            if (name.StartsWith("Proxy-", StringComparison.OrdinalIgnoreCase) || name.Equals("Connection", StringComparison.OrdinalIgnoreCase)
                || name.Equals("Keep-Alive", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            sb.Append(name).Append(": ").Append(SecretInjector.Inject(value, uri.IdnHost, secrets, findings)).Append("\r\n");
        }
        sb.Append("Connection: close\r\n\r\n");
        var requestHead = Encoding.Latin1.GetBytes(sb.ToString());
        await TakeAsync(requestHead.Length + rest.Length, ct).ConfigureAwait(false);
        await up.WriteAsync(requestHead, ct).ConfigureAwait(false);
        await up.WriteAsync(rest, ct).ConfigureAwait(false);
        var (bytesUp, bytesDown) = await RelayAsync(client, up, ct).ConfigureAwait(false);
        Report("http", uri.IdnHost, uri.Port, decision.Address!.ToString(), true, decision.Rule, decision.Reason, bytesUp + requestHead.Length + rest.Length, bytesDown, sw,
            findings);
    }

    private async Task ConnectTunnelAsync(Stream client, string host, int port, byte[] early, Stopwatch sw, CancellationToken ct)
    {
        var decision = await _engine.DecideAsync(host, port, ct).ConfigureAwait(false);
        if (!decision.Allowed)
        {
            Report("connect", host, port, null, false, decision.Rule, decision.Reason, 0, 0, sw);
            await WriteHttpErrorAsync(client, 403, "Forbidden", "airlock-egress: " + decision.Reason, decision.Rule).ConfigureAwait(false);
            return;
        }
        using var upstream = await ConnectAsync(decision.Address!, ct).ConfigureAwait(false);
        if (upstream is null)
        {
            Report("connect", host, port, decision.Address!.ToString(), true, decision.Rule, "connect failed", 0, 0, sw);
            await WriteHttpErrorAsync(client, 502, "Bad Gateway", $"airlock-egress: cannot connect to {decision.Address}", decision.Rule).ConfigureAwait(false);
            return;
        }
        await client.WriteAsync("HTTP/1.1 200 Connection Established\r\n\r\n"u8.ToArray(), ct).ConfigureAwait(false);
        await client.FlushAsync(ct).ConfigureAwait(false);
        // The first bytes through the tunnel: a TLS ClientHello must name the host that CONNECT named.
        var hello = await ReadClientHelloAsync(client, early, ct).ConfigureAwait(false);
        var sni = TlsClientHello.TryGetServerName(hello);
        if (sni is not null && !string.Equals(sni.TrimEnd('.'), host.TrimEnd('.'), StringComparison.OrdinalIgnoreCase))
        {
            Report("connect", host, port, decision.Address!.ToString(), false, "sni-mismatch",
                $"TLS ClientHello names '{sni}', CONNECT named '{host}'", 0, 0, sw);
            return;
        }
        await TunnelAsync("connect", client, hello, host, port, decision, upstream, sw, ct).ConfigureAwait(false);
    }

    /// <summary>Reads what the client sends first through a tunnel: a whole TLS record when it starts like one
    /// (bounded), else whatever arrived.</summary>
    private static async Task<byte[]> ReadClientHelloAsync(Stream client, byte[] early, CancellationToken ct)
    {
        var buf = new List<byte>(early);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        var chunk = new byte[4096];
        while (true)
        {
            if (buf.Count >= 5)
            {
                if (buf[0] != 0x16)
                {
                    return [.. buf];
                }
                var need = 5 + ((buf[3] << 8) | buf[4]);
                if (buf.Count >= need || need > 20 << 10)
                {
                    return [.. buf];
                }
            }
            int n;
            try
            {
                n = await client.ReadAsync(chunk, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                return [.. buf];
            }
            if (n == 0)
            {
                return [.. buf];
            }
            buf.AddRange(chunk.AsSpan(0, n));
        }
    }

    // ------------------------------------------------------------------ SOCKS5 (RFC 1928), TCP CONNECT only

    private async Task Socks5Async(Stream client, Stopwatch sw, CancellationToken headCt, CancellationToken ct)
    {
        var nMethods = await ReadByteAsync(client, headCt).ConfigureAwait(false);
        var methods = await ReadExactAsync(client, nMethods, headCt).ConfigureAwait(false);
        if (!methods.Contains((byte)0x00))
        {
            Report("socks5", "", 0, null, false, "malformed", "no acceptable authentication method (only 'none')", 0, 0, sw);
            await client.WriteAsync(new byte[] { 0x05, 0xFF }, ct).ConfigureAwait(false);
            return;
        }
        await client.WriteAsync(new byte[] { 0x05, 0x00 }, ct).ConfigureAwait(false);
        var req = await ReadExactAsync(client, 4, headCt).ConfigureAwait(false);
        if (req[0] != 0x05 || req[1] != 0x01)
        {
            Report("socks5", "", 0, null, false, "unsupported", $"SOCKS command {req[1]} (only CONNECT)", 0, 0, sw);
            await SocksReplyAsync(client, 0x07, ct).ConfigureAwait(false);
            return;
        }
        string host;
        switch (req[3])
        {
            case 0x01:
                host = new IPAddress(await ReadExactAsync(client, 4, headCt).ConfigureAwait(false)).ToString();
                break;
            case 0x04:
                host = new IPAddress(await ReadExactAsync(client, 16, headCt).ConfigureAwait(false)).ToString();
                break;
            case 0x03:
                var len = await ReadByteAsync(client, headCt).ConfigureAwait(false);
                host = Encoding.ASCII.GetString(await ReadExactAsync(client, len, headCt).ConfigureAwait(false));
                break;
            default:
                Report("socks5", "", 0, null, false, "malformed", $"address type {req[3]}", 0, 0, sw);
                await SocksReplyAsync(client, 0x08, ct).ConfigureAwait(false);
                return;
        }
        var port = BinaryPrimitives.ReadUInt16BigEndian(await ReadExactAsync(client, 2, headCt).ConfigureAwait(false));
        var decision = await _engine.DecideAsync(host, port, ct).ConfigureAwait(false);
        if (!decision.Allowed)
        {
            Report("socks5", host, port, null, false, decision.Rule, decision.Reason, 0, 0, sw);
            await SocksReplyAsync(client, 0x02, ct).ConfigureAwait(false);
            return;
        }
        using var upstream = await ConnectAsync(decision.Address!, ct).ConfigureAwait(false);
        if (upstream is null)
        {
            Report("socks5", host, port, decision.Address!.ToString(), true, decision.Rule, "connect failed", 0, 0, sw);
            await SocksReplyAsync(client, 0x05, ct).ConfigureAwait(false);
            return;
        }
        await SocksReplyAsync(client, 0x00, ct).ConfigureAwait(false);
        // Only a tunnel the proxy may look into needs its first bytes (a ClientHello to terminate, a request head to
        // inject into); others are relayed from the first byte on, as they always were.
        var first = _engine.Policy.TerminateTls || _engine.Policy.Secrets.Count > 0
            ? await ReadFirstClientBytesAsync(client, upstream, ct).ConfigureAwait(false)
            : [];
        await TunnelAsync("socks5", client, first, host, port, decision, upstream, sw, ct).ConfigureAwait(false);
    }

    private static Task SocksReplyAsync(Stream client, byte code, CancellationToken ct) =>
        client.WriteAsync(new byte[] { 0x05, code, 0x00, 0x01, 0, 0, 0, 0, 0, 0 }, ct).AsTask();

    // ------------------------------------------------------------------ plumbing

    private async Task<Socket?> ConnectAsync(IPEndPoint ep, CancellationToken ct)
    {
        var s = new Socket(ep.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_options.ConnectTimeout);
        try
        {
            await s.ConnectAsync(ep, timeout.Token).ConfigureAwait(false);
            return s;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            s.Dispose();
            ct.ThrowIfCancellationRequested();
            return null;
        }
    }

    /// <summary>Copies both ways until either side closes; returns (client→upstream, upstream→client) bytes.</summary>
    /// <remarks>When <paramref name="firstUp"/> is given, it moves the first client bytes (a request head it
    /// rewrites) before the plain copy upstream starts; the copy downstream runs from the start (a server may speak
    /// first). A negative result from it ends the connection.</remarks>
    private async Task<(long Up, long Down)> RelayAsync(Stream client, Stream upstream, CancellationToken ct, Func<CancellationToken, Task<long>>? firstUp = null)
    {
        using var done = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var up = firstUp is null ? CopyAsync(client, upstream, done.Token) : FirstThenCopyAsync();
        var down = CopyAsync(upstream, client, done.Token);
        var first = await Task.WhenAny(up, down).ConfigureAwait(false);
        // Half-close semantics are not kept: when one side is done, give the other a moment to drain, then stop.
        if (first == down)
        {
            done.CancelAfter(TimeSpan.FromMilliseconds(100));
        }
        else
        {
            done.CancelAfter(TimeSpan.FromSeconds(30));
        }
        return (await Safe(up).ConfigureAwait(false), await Safe(down).ConfigureAwait(false));

        async Task<long> FirstThenCopyAsync()
        {
            long n;
            try
            {
                n = await firstUp(done.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or SocketException)
            {
                n = -1;
            }
            if (n < 0)
            {
                await done.CancelAsync().ConfigureAwait(false);
                return 0;
            }
            return n + await CopyAsync(client, upstream, done.Token).ConfigureAwait(false);
        }

        static async Task<long> Safe(Task<long> t)
        {
            try
            {
                return await t.ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return t.IsCompletedSuccessfully ? t.Result : 0;
            }
        }
    }

    private async Task<long> CopyAsync(Stream from, Stream to, CancellationToken ct)
    {
        long total = 0;
        try
        {
            while (true)
            {
                // Wait for data without holding a buffer (a thousand idle tunnels hold none), then move up to
                // 256 KiB at a time while the reads keep filling it: large copies keep a loopback download near the
                // speed of a direct one.
                await from.ReadAsync(Memory<byte>.Empty, ct).ConfigureAwait(false);
                var buf = System.Buffers.ArrayPool<byte>.Shared.Rent(256 << 10);
                try
                {
                    int n;
                    do
                    {
                        n = await from.ReadAsync(buf, ct).ConfigureAwait(false);
                        if (n == 0)
                        {
                            return total;
                        }
                        await TakeAsync(n, ct).ConfigureAwait(false);
                        await to.WriteAsync(buf.AsMemory(0, n), ct).ConfigureAwait(false);
                        total += n;
                    }
                    while (n == buf.Length);
                }
                finally
                {
                    System.Buffers.ArrayPool<byte>.Shared.Return(buf);
                }
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
        return total;
    }

    private ValueTask TakeAsync(int bytes, CancellationToken ct) => _bandwidth?.TakeAsync(bytes, ct) ?? ValueTask.CompletedTask;

    private void Report(string protocol, string host, int port, string? address, bool allowed, string rule, string reason, long up, long down, Stopwatch sw,
        SecretFindings? findings = null, bool terminated = false)
    {
        if (_options.Audit is not { } audit)
        {
            return;
        }
        if (findings is { Withheld.Count: > 0 })
        {
            reason = string.Join("; ", findings.Withheld.Select(n => $"possible exfiltration: placeholder for secret '{n}' sent to {host}")) + "; " + reason;
        }
        if (findings?.Refused is { } refused)
        {
            reason = refused + "; " + reason;
        }
        audit(new EgressEvent(_options.Sandbox, protocol, host, port, address, allowed, rule, reason, up, down, Math.Round(sw.Elapsed.TotalMilliseconds, 3))
        {
            SecretsInjected = findings is { Injected.Count: > 0 } ? [.. findings.Injected] : null,
            SecretsWithheld = findings is { Withheld.Count: > 0 } ? [.. findings.Withheld] : null,
            Terminated = terminated,
        });
    }

    private static async Task WriteHttpErrorAsync(Stream client, int status, string phrase, string body, string rule)
    {
        try
        {
            var b = Encoding.UTF8.GetBytes(body + "\n");
            var head = $"HTTP/1.1 {status.ToString(CultureInfo.InvariantCulture)} {phrase}\r\nContent-Type: text/plain; charset=utf-8\r\n" +
                $"X-Airlock-Egress-Rule: {rule}\r\nContent-Length: {b.Length.ToString(CultureInfo.InvariantCulture)}\r\nConnection: close\r\n\r\n";
            await client.WriteAsync(Encoding.ASCII.GetBytes(head)).ConfigureAwait(false);
            await client.WriteAsync(b).ConfigureAwait(false);
            await client.FlushAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException)
        {
        }
    }

    /// <summary>Reads a request head (up to the blank line, at most 16 KiB): request line, headers, and any bytes
    /// read past the head. Null when malformed or too large.</summary>
    private static async Task<(string RequestLine, List<(string Name, string Value)> Headers, byte[] Early)?> ReadHeadAsync(Stream s, byte first, CancellationToken ct)
    {
        var buf = new byte[MaxHead];
        buf[0] = first;
        var len = 1;
        int end;
        while ((end = IndexOfHeadEnd(buf.AsSpan(0, len))) < 0)
        {
            if (len == buf.Length)
            {
                return null;
            }
            var n = await s.ReadAsync(buf.AsMemory(len), ct).ConfigureAwait(false);
            if (n == 0)
            {
                return null;
            }
            len += n;
        }
        var text = Encoding.Latin1.GetString(buf, 0, end);
        var lines = text.Split("\r\n");
        var headers = new List<(string, string)>();
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':');
            if (colon <= 0 || line.AsSpan(0, colon).ContainsAny(" \t"))
            {
                return null;
            }
            headers.Add((line[..colon], line[(colon + 1)..].Trim()));
        }
        return (lines[0], headers, buf.AsSpan(end + 4, len - end - 4).ToArray());
    }

    private static int IndexOfHeadEnd(ReadOnlySpan<byte> b) => b.IndexOf("\r\n\r\n"u8);

    private static bool TrySplitHostPort(string target, out string host, out int port)
    {
        host = "";
        port = 0;
        var colon = target.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(target[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
        {
            return false;
        }
        host = target[..colon].Trim('[', ']');
        return host.Length > 0;
    }

    private static async Task<byte> ReadByteAsync(Stream s, CancellationToken ct) => (await ReadExactAsync(s, 1, ct).ConfigureAwait(false))[0];

    private static async Task<byte[]> ReadExactAsync(Stream s, int count, CancellationToken ct)
    {
        var b = new byte[count];
        await s.ReadExactlyAsync(b, ct).ConfigureAwait(false);
        return b;
    }

    private static string Clip(string s) => s.Length > 100 ? s[..100] + "…" : s;
}
