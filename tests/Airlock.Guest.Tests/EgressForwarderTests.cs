using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Airlock.Core.Model;
using Airlock.Egress.Policy;
using Airlock.Egress.Proxy;

namespace Airlock.Guest.Tests;

/// <summary>The guest's egress forwarder (127.0.0.1:PORT → the host proxy's Unix socket) with the real guest process
/// and the real Airlock.Egress proxy, all on loopback: the proxy still decides.</summary>
public sealed class EgressForwarderTests
{
    [Fact]
    public async Task RelaysToTheHostProxyWhichDecides()
    {
        var root = Directory.CreateTempSubdirectory("airlock-egress-fwd-").FullName;
        using var stop = new CancellationTokenSource();
        Process? guest = null;
        try
        {
            // A loopback upstream.
            using var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            upstream.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            upstream.Listen(16);
            var upPort = ((IPEndPoint)upstream.LocalEndPoint!).Port;
            _ = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    using var c = await upstream.AcceptAsync(stop.Token);
                    var buf = new byte[4096];
                    var head = "";
                    while (!head.Contains("\r\n\r\n", StringComparison.Ordinal))
                    {
                        var n = await c.ReceiveAsync(buf, SocketFlags.None, stop.Token);
                        if (n == 0)
                        {
                            break;
                        }
                        head += Encoding.ASCII.GetString(buf, 0, n);
                    }
                    await c.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 19\r\nConnection: close\r\n\r\nhello from upstream"u8.ToArray(), SocketFlags.None, stop.Token);
                    c.Shutdown(SocketShutdown.Both);
                }
            });
            // The host side: the egress proxy on a Unix socket, as bound into a sandbox.
            var proxySocket = Path.Combine(root, "egress.sock");
            using var proxyListener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            proxyListener.Bind(new UnixDomainSocketEndPoint(proxySocket));
            proxyListener.Listen(64);
            var events = new System.Collections.Concurrent.ConcurrentQueue<EgressEvent>();
            var proxy = new EgressProxy(
                new PolicyEngine(new EgressPolicy { Pins = [new EgressPin("api.allowed.test", upPort, "127.0.0.1")] }, new MapResolver(new Dictionary<string, IPAddress[]>())),
                new EgressProxyOptions { Sandbox = "sbx-fwd", Audit = events.Enqueue });
            _ = proxy.ServeAsync(proxyListener, stop.Token);

            // The guest, with its forwarder on a free loopback port.
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            var port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            var workspace = Path.Combine(root, "workspace");
            Directory.CreateDirectory(workspace);
            var psi = GuestCommand.Create("serve", "--socket", Path.Combine(root, "guest.sock"), "--workspace", workspace,
                "--egress-socket", proxySocket, "--egress-port", port.ToString(System.Globalization.CultureInfo.InvariantCulture));
            psi.RedirectStandardError = true;
            guest = Process.Start(psi)!;
            var sw = Stopwatch.StartNew();
            while (true)
            {
                try
                {
                    using var t = new TcpClient();
                    await t.ConnectAsync(IPAddress.Loopback, port);
                    break;
                }
                catch (SocketException) when (sw.Elapsed < TimeSpan.FromSeconds(20) && !guest.HasExited)
                {
                    await Task.Delay(50);
                }
            }

            using var http = new HttpClient(new SocketsHttpHandler { Proxy = new WebProxy($"http://127.0.0.1:{port}"), UseProxy = true });
            Assert.Equal("hello from upstream", await http.GetStringAsync($"http://api.allowed.test:{upPort}/"));
            using var denied = await http.GetAsync("http://denied.example/");
            Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
            Assert.Equal("no-allow-rule", denied.Headers.GetValues("X-Airlock-Egress-Rule").Single());
            Assert.Contains(events, e => e.Allowed && e.Host == "api.allowed.test" && e.Sandbox == "sbx-fwd");
        }
        finally
        {
            await stop.CancelAsync();
            if (guest is { HasExited: false })
            {
                guest.Kill(entireProcessTree: true);
                await guest.WaitForExitAsync();
            }
            guest?.Dispose();
            Directory.Delete(root, recursive: true);
        }
    }
}
