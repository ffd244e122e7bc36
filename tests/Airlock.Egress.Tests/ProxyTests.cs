using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Airlock.Core.Model;
using Airlock.Egress.Policy;

namespace Airlock.Egress.Tests;

/// <summary>The proxy end to end on loopback: HTTP, CONNECT (TLS) and SOCKS5 to local upstreams, refusals with audited
/// reasons, SNI checks, limits, malformed input.</summary>
public sealed class ProxyTests
{
    internal static EgressPolicy Policy(Loopback l, params EgressRule[] allow) => new()
    {
        Allow = allow,
        Pins = [Loopback.Pin(l.HttpPort), Loopback.Pin(l.TlsPort)],
    };

    private static async Task<EgressEventMatch> WaitEvent(Loopback l, Func<Proxy.EgressEvent, bool> match)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(10))
        {
            if (l.Events.FirstOrDefault(match) is { } e)
            {
                return new EgressEventMatch(e);
            }
            await Task.Delay(10);
        }
        Assert.Fail("no matching egress event; got: " + string.Join("; ", l.Events.Select(e => $"{e.Protocol} {e.Host}:{e.Port} {e.Allowed} {e.Rule}")));
        return null!;
    }

    private sealed record EgressEventMatch(Proxy.EgressEvent Event);

    [Fact]
    public async Task AllowedNameWorksOverHttpAndIsAudited()
    {
        await using var l = new Loopback();
        l.StartProxy(Policy(l));
        using var http = l.Client();
        var body = await http.GetStringAsync($"http://api.allowed.test:{l.HttpPort}/");
        Assert.Equal("hello from upstream", body);
        var e = (await WaitEvent(l, e => e.Protocol == "http" && e.Allowed)).Event;
        Assert.Equal(("api.allowed.test", l.HttpPort, "pin", "127.0.0.1:" + l.HttpPort, "sbx-test"), (e.Host, e.Port, e.Rule, e.Address, e.Sandbox));
        Assert.True(e.BytesDown > 19 && e.BytesUp > 0);
    }

    [Fact]
    public async Task RefusalsAnswer403WithTheRuleAndAreAudited()
    {
        await using var l = new Loopback();
        l.StartProxy(Policy(l) with { Allow = [new EgressRule { Domain = "*.allowed.test" }], Deny = [new EgressRule { Domain = "blocked.allowed.test" }] });
        using var http = l.Client();
        foreach (var (url, rule) in new[]
        {
            ($"http://denied.example:{l.HttpPort}/", "no-allow-rule"),
            ($"http://blocked.allowed.test:{l.HttpPort}/", "deny[0]"),
            ($"http://api.allowed.test:{l.HttpPort + 1}/", "default-deny:loopback"),
            ($"http://rebind.allowed.test:{l.HttpPort}/", "default-deny:private"),
            ($"http://127.0.0.1:{l.HttpPort}/", "default-deny:loopback"),
            ($"http://169.254.169.254/latest/meta-data/", "default-deny:link-local/metadata"),
        })
        {
            using var resp = await http.GetAsync(url);
            Assert.Equal(HttpStatusCode.Forbidden, resp.StatusCode);
            Assert.Equal(rule, resp.Headers.GetValues("X-Airlock-Egress-Rule").Single());
            Assert.StartsWith("airlock-egress:", await resp.Content.ReadAsStringAsync());
            var host = new Uri(url).Host;
            await WaitEvent(l, e => e.Host == host && !e.Allowed && e.Rule == rule);
        }
    }

    [Fact]
    public async Task ConnectTunnelsTlsWhenTheClientHelloNamesTheConnectHost()
    {
        await using var l = new Loopback();
        l.StartProxy(Policy(l));
        await using var s = await l.ConnectProxyAsync();
        await s.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT api.allowed.test:{l.TlsPort} HTTP/1.1\r\nHost: api.allowed.test:{l.TlsPort}\r\n\r\n"));
        Assert.StartsWith("HTTP/1.1 200", await Loopback.ReadHeadAsync(s));
        await using var tls = new SslStream(s, false, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync("api.allowed.test");
        await tls.WriteAsync("GET / HTTP/1.1\r\nHost: api.allowed.test\r\n\r\n"u8.ToArray());
        var head = await Loopback.ReadHeadAsync(tls);
        Assert.StartsWith("HTTP/1.1 200", head);
        await WaitEvent(l, e => e.Protocol == "connect" && e.Allowed && e.Rule == "pin");
    }

    [Fact]
    public async Task AClientHelloForAnotherNameIsCutOff()
    {
        await using var l = new Loopback();
        l.StartProxy(Policy(l));
        await using var s = await l.ConnectProxyAsync();
        await s.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT api.allowed.test:{l.TlsPort} HTTP/1.1\r\n\r\n"));
        Assert.StartsWith("HTTP/1.1 200", await Loopback.ReadHeadAsync(s));
        await using var tls = new SslStream(s, false, (_, _, _, _) => true);
        await Assert.ThrowsAnyAsync<IOException>(() => tls.AuthenticateAsClientAsync("evil.example"));
        var e = (await WaitEvent(l, e => e.Rule == "sni-mismatch")).Event;
        Assert.False(e.Allowed);
        Assert.Contains("evil.example", e.Reason);
        Assert.Equal(0, e.BytesUp);
    }

    [Fact]
    public async Task Socks5ConnectsAllowedNamesAndRefusesOthers()
    {
        await using var l = new Loopback();
        l.StartProxy(Policy(l));
        async Task<(byte Reply, NetworkStream S)> Socks(string host, int port)
        {
            var s = await l.ConnectProxyAsync();
            await s.WriteAsync(new byte[] { 5, 1, 0 });
            var greet = new byte[2];
            await s.ReadExactlyAsync(greet);
            Assert.Equal(new byte[] { 5, 0 }, greet);
            var name = Encoding.ASCII.GetBytes(host);
            var req = new byte[7 + name.Length];
            (req[0], req[1], req[2], req[3], req[4]) = (5, 1, 0, 3, (byte)name.Length);
            name.CopyTo(req, 5);
            BinaryPrimitives.WriteUInt16BigEndian(req.AsSpan(5 + name.Length), (ushort)port);
            await s.WriteAsync(req);
            var reply = new byte[10];
            await s.ReadExactlyAsync(reply);
            return (reply[1], s);
        }
        var (ok, stream) = await Socks("api.allowed.test", l.HttpPort);
        Assert.Equal(0, ok);
        await stream.WriteAsync("GET / HTTP/1.1\r\nHost: api.allowed.test\r\n\r\n"u8.ToArray());
        Assert.StartsWith("HTTP/1.1 200", await Loopback.ReadHeadAsync(stream));
        await stream.DisposeAsync();
        var (refused, s2) = await Socks("denied.example", 443);
        Assert.Equal(2, refused);
        await s2.DisposeAsync();
        await WaitEvent(l, e => e.Protocol == "socks5" && e.Host == "denied.example" && e.Rule == "no-allow-rule");
        await WaitEvent(l, e => e.Protocol == "socks5" && e.Allowed);
    }

    [Fact]
    public async Task ConnectionLimitBites()
    {
        await using var l = new Loopback();
        l.StartProxy(Policy(l) with { MaxConnections = 2 });
        var held = new List<NetworkStream>();
        for (var i = 0; i < 2; i++)
        {
            var s = await l.ConnectProxyAsync();
            await s.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT api.allowed.test:{l.HttpPort} HTTP/1.1\r\n\r\n"));
            Assert.StartsWith("HTTP/1.1 200", await Loopback.ReadHeadAsync(s));
            held.Add(s);
        }
        await using (var third = await l.ConnectProxyAsync())
        {
            await third.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT api.allowed.test:{l.HttpPort} HTTP/1.1\r\n\r\n"));
            Assert.StartsWith("HTTP/1.1 429", await Loopback.ReadHeadAsync(third));
        }
        await WaitEvent(l, e => e.Rule == "max-connections");
        foreach (var s in held)
        {
            await s.DisposeAsync();
        }
    }

    [Fact]
    public async Task SurvivesAThousandConcurrentConnections()
    {
        await using var l = new Loopback();
        l.StartProxy(Policy(l) with { MaxConnections = 2000 });
        using var http = l.Client();
        var tasks = Enumerable.Range(0, 1000).Select(_ => http.GetStringAsync($"http://api.allowed.test:{l.HttpPort}/")).ToArray();
        var bodies = await Task.WhenAll(tasks);
        Assert.All(bodies, b => Assert.Equal("hello from upstream", b));
        // Each connection is audited when both sides are done, a moment after the client has its body.
        var sw = Stopwatch.StartNew();
        while (l.Events.Count(e => e.Allowed) < 1000 && sw.Elapsed < TimeSpan.FromSeconds(15))
        {
            await Task.Delay(20);
        }
        Assert.Equal(1000, l.Events.Count(e => e.Allowed));
        Assert.DoesNotContain(l.Events, e => !e.Allowed);
    }

    [Theory]
    [InlineData("garbage\r\n\r\n", "400")]
    [InlineData("GET /relative HTTP/1.1\r\nHost: x\r\n\r\n", "400")]
    [InlineData("CONNECT nohostport HTTP/1.1\r\n\r\n", "400")]
    [InlineData("GET http://a.test/ HTTP/1.1\r\nbad header line\r\n\r\n", "400")]
    [InlineData("GET ftp://a.test/ HTTP/1.1\r\n\r\n", "400")]
    public async Task MalformedRequestsGetAClearErrorAndTheProxyKeepsServing(string request, string status)
    {
        await using var l = new Loopback();
        l.StartProxy(Policy(l));
        await using (var s = await l.ConnectProxyAsync())
        {
            await s.WriteAsync(Encoding.ASCII.GetBytes(request));
            var head = await Loopback.ReadHeadAsync(s);
            Assert.StartsWith("HTTP/1.1 " + status, head);
            Assert.Contains("X-Airlock-Egress-Rule: malformed", head);
        }
        await using (var huge = await l.ConnectProxyAsync())
        {
            await huge.WriteAsync(Encoding.ASCII.GetBytes("GET http://a.test/ HTTP/1.1\r\nX: " + new string('a', 20_000) + "\r\n\r\n"));
            Assert.StartsWith("HTTP/1.1 400", await Loopback.ReadHeadAsync(huge));
        }
        using var http = l.Client();
        Assert.Equal("hello from upstream", await http.GetStringAsync($"http://api.allowed.test:{l.HttpPort}/"));
    }
}

/// <summary>Timed tests run alone: other classes of this assembly run in parallel and load the same two cores
/// (the thousand-connection test above all), which stretched a timed transfer by up to 0.7 s.</summary>
[CollectionDefinition("timed", DisableParallelization = true)]
public sealed class TimedCollection;

[Collection("timed")]
public sealed class BandwidthTests
{
    [Fact]
    public async Task BandwidthLimitHoldsWithinTenPercent()
    {
        await using var l = new Loopback();
        const int rate = 512 << 10;
        l.StartProxy(ProxyTests.Policy(l) with { BandwidthBytesPerSecond = rate });
        using var http = l.Client();
        // Warm up the paths (JIT, connection setup) with a transfer inside the burst allowance, then let it refill.
        await http.GetByteArrayAsync($"http://api.allowed.test:{l.HttpPort}/bytes/1024");
        await Task.Delay(300);
        // Timed off xunit's synchronization context, whose few threads also run other tests' continuations.
        var (bytes, elapsed) = await Task.Run(async () =>
        {
            var sw = Stopwatch.StartNew();
            var b = await http.GetByteArrayAsync($"http://api.allowed.test:{l.HttpPort}/bytes/{3 * rate}").ConfigureAwait(false);
            return (b, sw.Elapsed.TotalSeconds);
        });
        Assert.Equal(3 * rate, bytes.Length);
        var measured = bytes.Length / elapsed;
        // Within 10% both ways: the limit holds, and it is not a throttle to a fraction of it.
        Assert.True(measured <= rate * 1.1, $"measured {measured:0} B/s over a limit of {rate}");
        Assert.True(measured >= rate * 0.9, $"measured {measured:0} B/s, more than 10% under a limit of {rate}");
    }
}
