using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Airlock.Cli.Tests;

/// <summary>An HTTP/1.1 server on 127.0.0.1 (optionally TLS, with a self-signed certificate for
/// <c>api.allowed.test</c> and <c>other.allowed.test</c>) that answers every request with
/// <c>hello from loopback</c> and records each request head, so tests see exactly what reached it.</summary>
public sealed class LoopbackServer : IDisposable
{
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly CancellationTokenSource _stop = new();
    private readonly X509Certificate2? _cert;

    public LoopbackServer(bool tls = false)
    {
        if (tls)
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var req = new CertificateRequest("CN=api.allowed.test", key, HashAlgorithmName.SHA256);
            var san = new SubjectAlternativeNameBuilder();
            san.AddDnsName("api.allowed.test");
            san.AddDnsName("other.allowed.test");
            req.CertificateExtensions.Add(san.Build());
            req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            using var cert = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
            _cert = X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
            CertificatePem = _cert.ExportCertificatePem();
        }
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(128);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _ = AcceptAsync();
    }

    public int Port { get; }

    /// <summary>PEM of the self-signed certificate (TLS servers).</summary>
    public string? CertificatePem { get; }

    /// <summary>Request heads received, in order.</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>TCP connections accepted (including ones that sent nothing).</summary>
    public int Connections => _connections;

    private int _connections;

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket s;
            try
            {
                s = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            Interlocked.Increment(ref _connections);
            _ = ServeAsync(s);
        }
    }

    private async Task ServeAsync(Socket s)
    {
        try
        {
            await using var ns = new NetworkStream(s, ownsSocket: true);
            Stream stream = ns;
            if (_cert is not null)
            {
                var ssl = new SslStream(ns);
                await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _cert }, _stop.Token);
                stream = ssl;
            }
            var head = new StringBuilder();
            var buf = new byte[1];
            while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && head.Length < 65536)
            {
                if (await stream.ReadAsync(buf, _stop.Token) == 0)
                {
                    return;
                }
                head.Append((char)buf[0]);
            }
            Requests.Enqueue(head.ToString());
            var body = "hello from loopback\n"u8.ToArray();
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n"), _stop.Token);
            await stream.WriteAsync(body, _stop.Token);
            await stream.FlushAsync(_stop.Token);
            if (stream is SslStream tls)
            {
                await tls.ShutdownAsync();
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or System.Security.Authentication.AuthenticationException)
        {
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
        _cert?.Dispose();
    }
}
