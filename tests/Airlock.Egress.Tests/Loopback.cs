using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Airlock.Core.Model;
using Airlock.Egress.Policy;
using Airlock.Egress.Proxy;

namespace Airlock.Egress.Tests;

/// <summary>
/// Upstream servers and a proxy, all on 127.0.0.1 (tests talk to nothing else). The HTTP upstream answers
/// <c>GET /bytes/N</c> with N bytes, <c>GET /echo</c> with the request head it received, and anything else with
/// <c>hello from upstream</c>; the TLS upstream does the same behind a self-signed certificate
/// (<see cref="UpstreamCertificate"/>) for <c>api.allowed.test</c> and <c>other.allowed.test</c>. The recording
/// upstream (<see cref="RecordPort"/>) keeps every byte it receives on a connection.
/// </summary>
public sealed class Loopback : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Socket> _listeners = [];
    private static readonly Lazy<X509Certificate2> Cert = new(() =>
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest("CN=api.allowed.test", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("api.allowed.test");
        san.AddDnsName("other.allowed.test");
        req.CertificateExtensions.Add(san.Build());
        using var cert = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
    });

    /// <summary>The TLS upstream's self-signed certificate (public part).</summary>
    public static X509Certificate2 UpstreamCertificate => X509CertificateLoader.LoadCertificate(Cert.Value.RawData);

    public int HttpPort { get; }
    public int TlsPort { get; }
    public int RecordPort { get; }

    /// <summary>What the recording upstream received, one entry per connection (Latin-1).</summary>
    public ConcurrentQueue<string> Recorded { get; } = new();
    public int ProxyPort { get; private set; }
    public ConcurrentQueue<EgressEvent> Events { get; } = new();

    public Loopback()
    {
        HttpPort = Listen(tls: false);
        TlsPort = Listen(tls: true);
        RecordPort = Listen(tls: false, record: true);
    }

    /// <summary>Starts the proxy with <paramref name="policy"/>; the resolver knows api.allowed.test and
    /// other.allowed.test (both 127.0.0.1, reached only through pins or an allow cidr) and rebind.allowed.test
    /// (10.0.0.5, always refused, so never contacted).</summary>
    public EgressProxy StartProxy(EgressPolicy policy, Func<EgressProxyOptions, EgressProxyOptions>? configure = null)
    {
        var resolver = new MapResolver(new Dictionary<string, IPAddress[]>
        {
            ["api.allowed.test"] = [IPAddress.Loopback],
            ["other.allowed.test"] = [IPAddress.Loopback],
            ["rebind.allowed.test"] = [IPAddress.Parse("10.0.0.5")],
        });
        var options = new EgressProxyOptions { Sandbox = "sbx-test", Audit = Events.Enqueue };
        var proxy = new EgressProxy(new PolicyEngine(policy, resolver), configure is null ? options : configure(options));
        var l = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        l.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        l.Listen(4096);
        _listeners.Add(l);
        ProxyPort = ((IPEndPoint)l.LocalEndPoint!).Port;
        _ = proxy.ServeAsync(l, _stop.Token);
        return proxy;
    }

    /// <summary>A pin of api.allowed.test (port <paramref name="port"/>) to the loopback upstream.</summary>
    public static EgressPin Pin(int port, string host = "api.allowed.test") => new(host, port, "127.0.0.1");

    /// <summary>The first event that matches, waiting up to 10 s for it.</summary>
    public async Task<EgressEvent> WaitEventAsync(Func<EgressEvent, bool> match)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < until)
        {
            if (Events.FirstOrDefault(match) is { } e)
            {
                return e;
            }
            await Task.Delay(10);
        }
        Assert.Fail("no matching egress event; got: " + string.Join("; ", Events.Select(e => $"{e.Protocol} {e.Host}:{e.Port} {e.Allowed} {e.Rule} {e.Reason}")));
        return null!;
    }

    public HttpClient Client() => new(new SocketsHttpHandler { Proxy = new WebProxy($"http://127.0.0.1:{ProxyPort}"), UseProxy = true, MaxConnectionsPerServer = 2000 })
    {
        Timeout = TimeSpan.FromSeconds(60),
    };

    public async Task<NetworkStream> ConnectProxyAsync()
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await s.ConnectAsync(IPAddress.Loopback, ProxyPort);
        return new NetworkStream(s, ownsSocket: true);
    }

    /// <summary>Sends a raw request head to the proxy and reads the answer's status line and headers.</summary>
    public static async Task<string> ReadHeadAsync(Stream s)
    {
        var sb = new StringBuilder();
        var b = new byte[1];
        while (!sb.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && await s.ReadAsync(b) == 1)
        {
            sb.Append((char)b[0]);
        }
        return sb.ToString();
    }

    private int Listen(bool tls, bool record = false)
    {
        var l = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        l.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        l.Listen(4096);
        _listeners.Add(l);
        _ = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket c;
                try
                {
                    c = await l.AcceptAsync(_stop.Token);
                }
                catch (Exception)
                {
                    return;
                }
                _ = Task.Run(() => record ? RecordAsync(c) : ServeAsync(c, tls));
            }
        });
        return ((IPEndPoint)l.LocalEndPoint!).Port;
    }

    private static async Task ServeAsync(Socket c, bool tls)
    {
        try
        {
            await using var ns = new NetworkStream(c, ownsSocket: true);
            Stream s = ns;
            if (tls)
            {
                var ssl = new SslStream(ns);
                await ssl.AuthenticateAsServerAsync(Cert.Value);
                s = ssl;
            }
            var head = await ReadHeadAsync(s);
            var path = head.Split(' ').ElementAtOrDefault(1) ?? "/";
            byte[] body = path.StartsWith("/bytes/", StringComparison.Ordinal)
                ? new byte[int.Parse(path[7..], CultureInfo.InvariantCulture)]
                : path.StartsWith("/echo", StringComparison.Ordinal) ? Encoding.Latin1.GetBytes(head)
                : Encoding.ASCII.GetBytes("hello from upstream" + (head.Contains("X-Secret: ", StringComparison.Ordinal) ? " secret:" + head.Split("X-Secret: ")[1].Split("\r\n")[0] : ""));
            await s.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n"));
            await s.WriteAsync(body);
            await s.FlushAsync();
        }
        catch (Exception e) when (e is IOException or SocketException or System.Security.Authentication.AuthenticationException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Keeps everything a connection sends until it has been quiet for half a second, then answers once.</summary>
    private async Task RecordAsync(Socket c)
    {
        try
        {
            await using var ns = new NetworkStream(c, ownsSocket: true);
            var got = new MemoryStream();
            var buf = new byte[4096];
            while (true)
            {
                using var quiet = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                quiet.CancelAfter(TimeSpan.FromMilliseconds(500));
                int n;
                try
                {
                    n = await ns.ReadAsync(buf, quiet.Token);
                }
                catch (OperationCanceledException) when (!_stop.IsCancellationRequested)
                {
                    break;
                }
                if (n == 0)
                {
                    break;
                }
                got.Write(buf, 0, n);
            }
            Recorded.Enqueue(Encoding.Latin1.GetString(got.ToArray()));
            await ns.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nrecorded"u8.ToArray());
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        foreach (var l in _listeners)
        {
            l.Dispose();
        }
        _stop.Dispose();
    }
}
