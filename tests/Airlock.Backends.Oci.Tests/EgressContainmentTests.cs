using Airlock.Cli.Tests;
using Airlock.Core.Model;

namespace Airlock.Backends.Oci.Tests;

/// <summary>An egress sandbox on every runtime: its only way out is the forwarder to the proxy. Direct connections,
/// raw and packet sockets and netlink fail; the proxy path works for the pinned name only. The one server is the
/// host's 127.0.0.1.</summary>
public sealed class EgressContainmentTests(OciFixture f) : IClassFixture<OciFixture>
{
    private const string Py = "/usr/bin/python3";

    [Theory]
    [MemberData(nameof(OciFixture.Runtimes), MemberType = typeof(OciFixture))]
    public async Task TheOnlyWayOutIsTheProxy(string runtime)
    {
        using var server = new LoopbackServer();
        var port = server.Port;
        var t = OciFixture.Shell(runtime) with
        {
            Network = new NetworkSpec
            {
                Mode = NetworkModes.Egress,
                Allow = [new EgressRule { Domain = "api.allowed.test", Ports = [port] }],
                Resolve = [new EgressPin("api.allowed.test", port, "127.0.0.1")],
            },
        };
        var o = await f.RunAsync(t, Py, "-c", $$"""
            import socket, urllib.request
            lines = open("/proc/net/dev").read().splitlines()[2:]
            print("ifaces", sorted(l.split(":")[0].strip() for l in lines))
            for name, fam, typ in [("raw", socket.AF_INET, socket.SOCK_RAW), ("packet", socket.AF_PACKET, socket.SOCK_RAW),
                                   ("netlink", socket.AF_NETLINK, socket.SOCK_RAW), ("raw6", socket.AF_INET6, socket.SOCK_RAW)]:
                try:
                    socket.socket(fam, typ); print("OPENED", name)
                except OSError as e:
                    print("denied", name, e.errno)
            s = socket.socket(); s.settimeout(2)
            try:
                s.connect(("127.0.0.1", {{port}})); print("CONNECTED direct")
            except OSError as e:
                print("refused direct", e.errno)
            try:
                socket.getaddrinfo("api.allowed.test", {{port}}); print("RESOLVED")
            except OSError as e:
                print("no resolver", e.errno)
            print(urllib.request.urlopen("http://api.allowed.test:{{port}}/via-proxy", timeout=10).read().decode().strip())
            """);
        Assert.True(o.Result.ExitCode == 0, o.ToString());
        Assert.Contains("ifaces ['lo']", o.Stdout);
        Assert.DoesNotContain("OPENED", o.Stdout);
        Assert.Equal(4, o.Stdout.Split('\n').Count(l => l.StartsWith("denied ", StringComparison.Ordinal)));
        Assert.Contains("refused direct", o.Stdout);
        Assert.Contains("no resolver", o.Stdout);
        Assert.Contains("hello from loopback", o.Stdout);
        Assert.Equal(["GET /via-proxy"], server.Requests.Select(h => string.Join(' ', h.Split(' ').Take(2))));
        // The proxy reports a connection when it ends, which may be just after the command's result.
        for (var i = 0; i < 100 && !f.EgressEvents.Any(e => e.Sandbox == o.SandboxId); i++)
        {
            await Task.Delay(50);
        }
        Assert.Contains(f.EgressEvents, e => e.Sandbox == o.SandboxId && e.Allowed && e.Rule == "pin" && e.Port == port && e.BytesDown > 0);
        Assert.Empty(OciFixture.Leftovers(f.Home, o.SandboxId));
        Assert.False(File.Exists(Path.Combine(f.Home, "sandboxes", o.SandboxId, "run", "egress.sock")));
    }
}
