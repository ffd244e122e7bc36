using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Airlock.Core.Model;
using Airlock.Egress.Policy;
using Airlock.Egress.Proxy;

namespace Airlock.Egress.Tests;

/// <summary>Secrets injected at egress (plain HTTP, terminated TLS over CONNECT and SOCKS5), withheld from other hosts
/// and audited, and the per-sandbox CA that termination presents — all against loopback servers.</summary>
public sealed class SecretTests
{
    private const string Value = "ghp_real-value-0123456789";
    private const string Placeholder = "airlock-secret:gh";

    private static EgressPolicy Policy(Loopback l, bool terminate = false) => new()
    {
        Pins =
        [
            Loopback.Pin(l.HttpPort), Loopback.Pin(l.TlsPort), Loopback.Pin(l.RecordPort),
            Loopback.Pin(l.HttpPort, "other.allowed.test"), Loopback.Pin(l.TlsPort, "other.allowed.test"),
            Loopback.Pin(l.TlsPort, "wrong.allowed.test"),
        ],
        Secrets = [new SecretValue("gh", Placeholder, ["api.allowed.test"], Value)],
        TerminateTls = terminate,
    };

    private static Func<EgressProxyOptions, EgressProxyOptions> Terminating(SandboxCa ca, bool trustUpstream = true) =>
        o => o with { CertificateAuthority = ca, UpstreamTrustedRoots = trustUpstream ? [Loopback.UpstreamCertificate] : null };

    /// <summary>Accepts a server certificate only if it chains to <paramref name="caPem"/>, and records that the
    /// system roots alone did not accept it (chain errors, no name mismatch).</summary>
    private static RemoteCertificateValidationCallback TrustOnly(string caPem, List<SslPolicyErrors> systemVerdicts) => (_, cert, _, errors) =>
    {
        lock (systemVerdicts)
        {
            systemVerdicts.Add(errors);
        }
        using var ca = X509Certificate2.CreateFromPem(caPem);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return cert is not null && errors == SslPolicyErrors.RemoteCertificateChainErrors && chain.Build(new X509Certificate2(cert));
    };

    /// <summary>CONNECT through the proxy, TLS with <paramref name="validate"/>, one request; the whole answer.</summary>
    private static async Task<string> ConnectGetAsync(Loopback l, string host, int port, RemoteCertificateValidationCallback validate, string headers)
    {
        await using var s = await l.ConnectProxyAsync();
        await s.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n"));
        Assert.StartsWith("HTTP/1.1 200", await Loopback.ReadHeadAsync(s));
        await using var tls = new SslStream(s, false, validate);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = host, ApplicationProtocols = [SslApplicationProtocol.Http11] });
        await tls.WriteAsync(Encoding.ASCII.GetBytes($"GET /echo HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n"));
        return await ReadToEndAsync(tls);
    }

    private static async Task<string> ReadToEndAsync(Stream s)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var ms = new MemoryStream();
        try
        {
            await s.CopyToAsync(ms, timeout.Token);
        }
        catch (IOException)
        {
            // A peer that closes without TLS close_notify; what arrived is what counts.
        }
        return Encoding.Latin1.GetString(ms.ToArray());
    }

    private static async Task<NetworkStream> Socks5Async(Loopback l, string host, int port)
    {
        var s = await l.ConnectProxyAsync();
        await s.WriteAsync(new byte[] { 5, 1, 0 });
        var greet = new byte[2];
        await s.ReadExactlyAsync(greet);
        var name = Encoding.ASCII.GetBytes(host);
        await s.WriteAsync((byte[])[5, 1, 0, 3, (byte)name.Length, .. name, (byte)(port >> 8), (byte)port]);
        var reply = new byte[10];
        await s.ReadExactlyAsync(reply);
        Assert.Equal(0, reply[1]);
        return s;
    }

    private static void AssertNoValue(Loopback l) =>
        Assert.All(l.Events, e => Assert.DoesNotContain(Value, e.ToString() + string.Join(",", e.SecretsInjected ?? []) + string.Join(",", e.SecretsWithheld ?? [])));

    [Fact]
    public async Task PlainHttpGetsTheSecretOnlyForItsDomain()
    {
        await using var l = new Loopback();
        l.StartProxy(Policy(l));
        using var http = l.Client();
        using var right = new HttpRequestMessage(HttpMethod.Get, $"http://api.allowed.test:{l.HttpPort}/");
        right.Headers.Add("X-Secret", "Bearer " + Placeholder);
        Assert.Equal("hello from upstream secret:Bearer " + Value, await (await http.SendAsync(right)).Content.ReadAsStringAsync());
        var e = await l.WaitEventAsync(e => e.Host == "api.allowed.test");
        Assert.Equal(["gh"], e.SecretsInjected!);
        Assert.Null(e.SecretsWithheld);
        Assert.DoesNotContain("exfiltration", e.Reason);

        using var wrong = new HttpRequestMessage(HttpMethod.Get, $"http://other.allowed.test:{l.HttpPort}/");
        wrong.Headers.Add("X-Secret", Placeholder);
        Assert.Equal("hello from upstream secret:" + Placeholder, await (await http.SendAsync(wrong)).Content.ReadAsStringAsync());
        e = await l.WaitEventAsync(e => e.Host == "other.allowed.test");
        Assert.True(e.Allowed);
        Assert.Equal("pin", e.Rule);
        Assert.Null(e.SecretsInjected);
        Assert.Equal(["gh"], e.SecretsWithheld!);
        Assert.Contains("possible exfiltration: placeholder for secret 'gh' sent to other.allowed.test", e.Reason);
        AssertNoValue(l);
    }

    [Fact]
    public async Task APlaceholderInTheUrlIsNeverReplacedButIsAuditedWhenItGoesElsewhere()
    {
        await using var l = new Loopback();
        l.StartProxy(Policy(l));
        using var http = l.Client();
        var echoed = await http.GetStringAsync($"http://api.allowed.test:{l.HttpPort}/echo?t={Placeholder}");
        Assert.Contains("GET /echo?t=" + Placeholder + " HTTP/1.1", echoed);
        Assert.DoesNotContain(Value, echoed);
        await http.GetStringAsync($"http://other.allowed.test:{l.HttpPort}/echo?t={Placeholder}");
        var e = await l.WaitEventAsync(e => e.Host == "other.allowed.test");
        Assert.Equal(["gh"], e.SecretsWithheld!);
    }

    [Fact]
    public async Task TerminatedTlsInjectsForTheRightDomainAndTheClientTrustsOnlyTheSandboxCa()
    {
        await using var l = new Loopback();
        using var ca = new SandboxCa("sbx-test");
        l.StartProxy(Policy(l, terminate: true), Terminating(ca));
        var verdicts = new List<SslPolicyErrors>();
        using var http = new HttpClient(new SocketsHttpHandler
        {
            Proxy = new WebProxy($"http://127.0.0.1:{l.ProxyPort}"),
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = TrustOnly(ca.CertificatePem, verdicts) },
        });
        using var req = new HttpRequestMessage(HttpMethod.Get, $"https://api.allowed.test:{l.TlsPort}/");
        req.Headers.Add("X-Secret", Placeholder);
        Assert.Equal("hello from upstream secret:" + Value, await (await http.SendAsync(req)).Content.ReadAsStringAsync());
        // The system roots alone refused the proxy's certificate; the sandbox CA is what made it trusted.
        Assert.Equal([SslPolicyErrors.RemoteCertificateChainErrors], verdicts);
        var e = await l.WaitEventAsync(e => e.Protocol == "connect" && e.Host == "api.allowed.test");
        Assert.True(e.Terminated);
        Assert.True(e.Allowed);
        Assert.Equal(["gh"], e.SecretsInjected!);
        Assert.Null(e.SecretsWithheld);
        AssertNoValue(l);
    }

    [Fact]
    public async Task TerminatedTlsWithholdsThePlaceholderFromAnotherDomain()
    {
        await using var l = new Loopback();
        using var ca = new SandboxCa("sbx-test");
        l.StartProxy(Policy(l, terminate: true), Terminating(ca));
        var answer = await ConnectGetAsync(l, "other.allowed.test", l.TlsPort, TrustOnly(ca.CertificatePem, []), $"Authorization: token {Placeholder}\r\n");
        Assert.StartsWith("HTTP/1.1 200", answer);
        Assert.Contains("Authorization: token " + Placeholder + "\r\n", answer);
        Assert.Contains("Connection: close\r\n", answer);
        Assert.DoesNotContain(Value, answer);
        var e = await l.WaitEventAsync(e => e.Host == "other.allowed.test");
        Assert.True(e.Terminated);
        Assert.True(e.Allowed);
        Assert.Equal(["gh"], e.SecretsWithheld!);
        Assert.Contains("possible exfiltration: placeholder for secret 'gh' sent to other.allowed.test", e.Reason);
        AssertNoValue(l);
    }

    [Fact]
    public async Task TheProxysCertificateFailsAgainstAnotherSandboxsCa()
    {
        await using var l = new Loopback();
        using var ca = new SandboxCa("sbx-test");
        using var otherCa = new SandboxCa("sbx-other");
        Assert.NotEqual(ca.CertificatePem, otherCa.CertificatePem);
        l.StartProxy(Policy(l, terminate: true), Terminating(ca));
        await Assert.ThrowsAnyAsync<System.Security.Authentication.AuthenticationException>(() =>
            ConnectGetAsync(l, "api.allowed.test", l.TlsPort, TrustOnly(otherCa.CertificatePem, []), ""));
        // The client checks the certificate after the TLS handshake itself completed, so the proxy sees a connection
        // that closes before it carries anything.
        var e = await l.WaitEventAsync(e => e.Host == "api.allowed.test");
        Assert.Equal((true, 0L), (e.Terminated, e.BytesUp));
        Assert.Null(e.SecretsInjected);
    }

    [Fact]
    public async Task ABrokenHandshakeFromTheSandboxIsAuditedAsClientTls()
    {
        await using var l = new Loopback();
        using var ca = new SandboxCa("sbx-test");
        l.StartProxy(Policy(l, terminate: true), Terminating(ca));
        await using var s = await l.ConnectProxyAsync();
        await s.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT api.allowed.test:{l.TlsPort} HTTP/1.1\r\n\r\n"));
        Assert.StartsWith("HTTP/1.1 200", await Loopback.ReadHeadAsync(s));
        // A TLS handshake record whose body is not a ClientHello.
        await s.WriteAsync(new byte[] { 0x16, 0x03, 0x01, 0x00, 0x04, 0x63, 0x00, 0x00, 0x00 });
        var e = await l.WaitEventAsync(e => e.Host == "api.allowed.test");
        Assert.Equal(("client-tls", false, true), (e.Rule, e.Allowed, e.Terminated));
    }

    [Fact]
    public async Task AnUntrustedUpstreamIsRefusedWithUpstreamTls()
    {
        await using var l = new Loopback();
        using var ca = new SandboxCa("sbx-test");
        l.StartProxy(Policy(l, terminate: true), Terminating(ca, trustUpstream: false));
        var answer = await ConnectGetAsync(l, "api.allowed.test", l.TlsPort, TrustOnly(ca.CertificatePem, []), $"X-Secret: {Placeholder}\r\n");
        Assert.StartsWith("HTTP/1.1 502", answer);
        Assert.Contains("X-Airlock-Egress-Rule: upstream-tls", answer);
        var e = await l.WaitEventAsync(e => e.Host == "api.allowed.test");
        Assert.Equal(("upstream-tls", false, true, 0L), (e.Rule, e.Allowed, e.Terminated, e.BytesUp));
        Assert.Contains("not trusted", e.Reason);
        Assert.Null(e.SecretsInjected);
    }

    [Fact]
    public async Task AnUpstreamCertificateForAnotherNameIsRefusedEvenWithItsRootTrusted()
    {
        await using var l = new Loopback();
        using var ca = new SandboxCa("sbx-test");
        l.StartProxy(Policy(l, terminate: true), Terminating(ca));
        var answer = await ConnectGetAsync(l, "wrong.allowed.test", l.TlsPort, TrustOnly(ca.CertificatePem, []), "");
        Assert.StartsWith("HTTP/1.1 502", answer);
        var e = await l.WaitEventAsync(e => e.Host == "wrong.allowed.test");
        Assert.Equal(("upstream-tls", false), (e.Rule, e.Allowed));
        Assert.Contains("does not name wrong.allowed.test", e.Reason);
    }

    [Fact]
    public async Task WithoutTerminationTlsIsRelayedUntouchedEndToEnd()
    {
        await using var l = new Loopback();
        l.StartProxy(Policy(l));
        var upstream = Loopback.UpstreamCertificate;
        var answer = await ConnectGetAsync(l, "api.allowed.test", l.TlsPort,
            (_, cert, _, _) => cert is not null && new X509Certificate2(cert).Thumbprint == upstream.Thumbprint, $"X-Secret: {Placeholder}\r\n");
        Assert.StartsWith("HTTP/1.1 200", answer);
        Assert.Contains("X-Secret: " + Placeholder + "\r\n", answer);
        Assert.DoesNotContain("Connection: close\r\n\r\n", answer.Split("\r\n\r\n", 2)[1]);
        var e = await l.WaitEventAsync(e => e.Host == "api.allowed.test");
        Assert.False(e.Terminated);
        Assert.Null(e.SecretsInjected);
        Assert.Null(e.SecretsWithheld);
    }

    [Fact]
    public async Task Socks5TlsIsTerminatedAndGetsTheSecret()
    {
        await using var l = new Loopback();
        using var ca = new SandboxCa("sbx-test");
        l.StartProxy(Policy(l, terminate: true), Terminating(ca));
        await using var s = await Socks5Async(l, "api.allowed.test", l.TlsPort);
        await using var tls = new SslStream(s, false, TrustOnly(ca.CertificatePem, []));
        await tls.AuthenticateAsClientAsync("api.allowed.test");
        await tls.WriteAsync(Encoding.ASCII.GetBytes($"GET /echo HTTP/1.1\r\nHost: api.allowed.test\r\nX-Secret: {Placeholder}\r\n\r\n"));
        var answer = await ReadToEndAsync(tls);
        Assert.Contains("X-Secret: " + Value + "\r\n", answer);
        var e = await l.WaitEventAsync(e => e.Protocol == "socks5");
        Assert.Equal((true, true, "pin"), (e.Terminated, e.Allowed, e.Rule));
        Assert.Equal(["gh"], e.SecretsInjected!);
    }

    [Fact]
    public async Task Socks5ToAServerThatSpeaksFirstIsRelayedWithoutWaitingForTheClient()
    {
        await using var l = new Loopback();
        using var ca = new SandboxCa("sbx-test");
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var server = Task.Run(async () =>
        {
            using var c = await listener.AcceptAsync();
            await using var ns = new NetworkStream(c);
            await ns.WriteAsync("220 greeting\r\n"u8.ToArray());
            var line = new byte[6];
            await ns.ReadExactlyAsync(line);
            await ns.WriteAsync(line);
        });
        l.StartProxy(Policy(l, terminate: true) with { Pins = [Loopback.Pin(port, "smtp.allowed.test")] }, Terminating(ca));
        await using var s = await Socks5Async(l, "smtp.allowed.test", port);
        var greeting = new byte[14];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await s.ReadExactlyAsync(greeting, timeout.Token);
        Assert.Equal("220 greeting\r\n", Encoding.ASCII.GetString(greeting));
        await s.WriteAsync("QUIT\r\n"u8.ToArray());
        var echo = new byte[6];
        await s.ReadExactlyAsync(echo, timeout.Token);
        Assert.Equal("QUIT\r\n", Encoding.ASCII.GetString(echo));
        await server;
    }

    [Fact]
    public async Task Socks5PlainHttpGetsTheSecretOnlyForItsDomain()
    {
        await using var l = new Loopback();
        l.StartProxy(Policy(l));
        foreach (var (host, expected) in new[] { ("api.allowed.test", Value), ("other.allowed.test", Placeholder) })
        {
            await using var s = await Socks5Async(l, host, l.HttpPort);
            await s.WriteAsync(Encoding.ASCII.GetBytes($"GET /echo HTTP/1.1\r\nHost: {host}\r\nX-Secret: {Placeholder[..10]}"));
            await Task.Delay(50);
            // The rest of the head arrives later: the proxy waits for the whole head before it decides.
            await s.WriteAsync(Encoding.ASCII.GetBytes($"{Placeholder[10..]}\r\n\r\n"));
            var answer = await ReadToEndAsync(s);
            Assert.Contains("X-Secret: " + expected + "\r\n", answer);
        }
        Assert.Equal(["gh"], (await l.WaitEventAsync(e => e.Host == "api.allowed.test")).SecretsInjected!);
        Assert.Equal(["gh"], (await l.WaitEventAsync(e => e.Host == "other.allowed.test")).SecretsWithheld!);
    }

    [Fact]
    public async Task OnlyTheFirstRequestOfAConnectionIsRewrittenAndItIsSentWithConnectionClose()
    {
        await using var l = new Loopback();
        l.StartProxy(Policy(l));
        await using var s = await l.ConnectProxyAsync();
        await s.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT api.allowed.test:{l.RecordPort} HTTP/1.1\r\n\r\n"));
        Assert.StartsWith("HTTP/1.1 200", await Loopback.ReadHeadAsync(s));
        await s.WriteAsync(Encoding.ASCII.GetBytes(
            $"GET /one HTTP/1.1\r\nHost: api.allowed.test\r\nConnection: keep-alive\r\nX-Secret: {Placeholder}\r\n\r\n" +
            $"GET /two HTTP/1.1\r\nHost: api.allowed.test\r\nX-Secret: {Placeholder}\r\n\r\n"));
        Assert.EndsWith("recorded", await ReadToEndAsync(s));
        var seen = Assert.Single(l.Recorded);
        var first = seen[..seen.IndexOf("GET /two", StringComparison.Ordinal)];
        Assert.Contains("X-Secret: " + Value + "\r\n", first);
        Assert.Contains("Connection: close\r\n", first);
        Assert.DoesNotContain("keep-alive", first);
        // The second request reached the same host only, as bytes: never with the value.
        Assert.EndsWith($"GET /two HTTP/1.1\r\nHost: api.allowed.test\r\nX-Secret: {Placeholder}\r\n\r\n", seen);
        Assert.Equal(1, CountOf(seen, Value));
    }

    [Fact]
    public async Task PlaceholdersMatchWholeNamesOnly()
    {
        await using var l = new Loopback();
        l.StartProxy(Policy(l) with
        {
            Secrets =
            [
                new SecretValue("gh", Placeholder, ["api.allowed.test"], Value),
                new SecretValue("gh-admin", "airlock-secret:gh-admin", ["other.allowed.test"], "admin-value"),
            ],
        });
        using var http = l.Client();
        using var req = new HttpRequestMessage(HttpMethod.Get, $"http://api.allowed.test:{l.HttpPort}/echo");
        req.Headers.Add("X-A", "airlock-secret:gh-admin");
        req.Headers.Add("X-B", Placeholder + ",airlock-secret:ghx");
        var echoed = await (await http.SendAsync(req)).Content.ReadAsStringAsync();
        Assert.Contains("X-A: airlock-secret:gh-admin\r\n", echoed);
        Assert.Contains($"X-B: {Value},airlock-secret:ghx\r\n", echoed);
        var e = await l.WaitEventAsync(e => e.Host == "api.allowed.test");
        Assert.Equal(["gh"], e.SecretsInjected!);
        Assert.Equal(["gh-admin"], e.SecretsWithheld!);
    }

    [Fact]
    public void TerminatingWithoutACertificateAuthorityIsAClearError()
    {
        var engine = new PolicyEngine(new EgressPolicy { TerminateTls = true }, new MapResolver(new Dictionary<string, IPAddress[]>()));
        var e = Assert.Throws<ArgumentException>(() => new EgressProxy(engine, new EgressProxyOptions()));
        Assert.Contains("CertificateAuthority", e.Message);
        Assert.Contains("terminateTls", e.Message);
    }

    private static int CountOf(string s, string what)
    {
        var n = 0;
        for (var i = s.IndexOf(what, StringComparison.Ordinal); i >= 0; i = s.IndexOf(what, i + 1, StringComparison.Ordinal))
        {
            n++;
        }
        return n;
    }
}
