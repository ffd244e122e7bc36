using System.Net;
using System.Net.Sockets;

namespace Airlock.Guest;

/// <summary>
/// The sandbox's only way out: a listener on 127.0.0.1 inside the sandbox's own network namespace (which has nothing
/// but loopback) that relays each connection, unchanged, to the host's egress proxy over the Unix socket bound into
/// the sandbox. The proxy decides; this side only carries bytes. A program that ignores the proxy variables has no
/// route anywhere.
/// </summary>
internal static class EgressForwarder
{
    /// <summary>Binds the listener. Done before the first exec starts, so a program never races the forwarder.</summary>
    public static Socket Listen(int port)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
            listener.Listen(512);
            return listener;
        }
        catch
        {
            listener.Dispose();
            throw;
        }
    }

    public static async Task RunAsync(Socket listener, string proxySocket, CancellationToken ct)
    {
        using var owned = listener;
        while (!ct.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            _ = RelayAsync(client, proxySocket, ct);
        }
    }

    private static async Task RelayAsync(Socket client, string proxySocket, CancellationToken ct)
    {
        using (client)
        using (var up = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            try
            {
                await up.ConnectAsync(new UnixDomainSocketEndPoint(proxySocket), ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                // No proxy on the host: the connection simply closes.
                return;
            }
            await Task.WhenAll(PumpAsync(client, up, ct), PumpAsync(up, client, ct)).ConfigureAwait(false);
        }
    }

    /// <summary>Copies until end of stream, then passes the end on (half-close), so request/response protocols work.</summary>
    private static async Task PumpAsync(Socket from, Socket to, CancellationToken ct)
    {
        var buf = new byte[64 << 10];
        try
        {
            int n;
            while ((n = await from.ReceiveAsync(buf, SocketFlags.None, ct).ConfigureAwait(false)) > 0)
            {
                var sent = 0;
                while (sent < n)
                {
                    sent += await to.SendAsync(buf.AsMemory(sent, n - sent), SocketFlags.None, ct).ConfigureAwait(false);
                }
            }
            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            try
            {
                to.Shutdown(SocketShutdown.Both);
            }
            catch (Exception e2) when (e2 is SocketException or ObjectDisposedException)
            {
            }
        }
    }
}
