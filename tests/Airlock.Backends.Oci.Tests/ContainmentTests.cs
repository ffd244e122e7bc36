using System.Net;
using System.Net.Sockets;

namespace Airlock.Backends.Oci.Tests;

/// <summary>Each test tries to break out of, or around, the sandbox and must fail. Probes are written so that a
/// containment bug cannot harm the host: mounts target fresh directories, writes target new files.</summary>
public sealed class ContainmentTests(OciFixture f) : IClassFixture<OciFixture>
{
    private const string Py = "python3";

    [Theory]
    [MemberData(nameof(OciFixture.Runtimes), MemberType = typeof(OciFixture))]
    public async Task CannotReadHostCanaryOrSecrets(string runtime)
    {
        var secret = "canary-" + Guid.NewGuid().ToString("N");
        var dir = Directory.CreateTempSubdirectory("airlock-canary-").FullName;
        var canary = Path.Combine(dir, "canary.txt");
        await File.WriteAllTextAsync(canary, secret);
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        File.SetUnixFileMode(canary, UnixFileMode.UserRead | UnixFileMode.OtherRead);
        try
        {
            var o = await f.RunAsync(OciFixture.Shell(runtime), "sh", "-c",
                $"cat {canary}; cat /etc/shadow; grep -r {secret} /tmp /workspace /etc /root /home 2>/dev/null; cat /etc/hostname; ls /etc");
            Assert.DoesNotContain(secret, o.Stdout);
            Assert.DoesNotContain("root:", o.Stdout.Replace("root:x:0:0", "", StringComparison.Ordinal));
            Assert.Contains("No such file", o.Stderr);
            Assert.Contains("sandbox", o.Stdout);
            Assert.DoesNotContain("shadow", o.Stdout);
            Assert.DoesNotContain("ssh", o.Stdout);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Theory]
    [MemberData(nameof(OciFixture.Runtimes), MemberType = typeof(OciFixture))]
    public async Task CannotSeeHostProcesses(string runtime)
    {
        var o = await f.RunAsync(OciFixture.Shell(runtime), "sh", "-c", "for p in /proc/[0-9]*; do cat $p/cmdline | tr '\\0' ' '; echo; done");
        Assert.Equal(0, o.Result.ExitCode);
        var lines = o.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length <= 5, o.ToString());
        Assert.DoesNotContain("testhost", o.Stdout);
        Assert.DoesNotContain("dotnet", o.Stdout);
        Assert.DoesNotContain("systemd", o.Stdout);
    }

    /// <summary>The host's own non-loopback IPv4 addresses, as a Python list: a connection to them from a sandbox that
    /// had a route would stay on this machine (tests never aim at other machines).</summary>
    private static string HostAddresses() => "[" + string.Join(", ", System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
        .SelectMany(i => i.GetIPProperties().UnicastAddresses)
        .Where(a => a.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && !IPAddress.IsLoopback(a.Address))
        .Select(a => $"\"{a.Address}\"")) + "]";

    [Theory]
    [MemberData(nameof(OciFixture.Runtimes), MemberType = typeof(OciFixture))]
    public async Task HasNoNetwork(string runtime)
    {
        // On every local address, so a sandbox with any route to this host would reach it.
        using var listener = new TcpListener(IPAddress.Any, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var o = await f.RunAsync(OciFixture.Shell(runtime), Py, "-c", $$"""
            import socket
            lines = open("/proc/net/dev").read().splitlines()[2:]
            print("ifaces", sorted(l.split(":")[0].strip() for l in lines))
            for host in ["127.0.0.1"] + {{HostAddresses()}}:
                s = socket.socket(); s.settimeout(2)
                try:
                    s.connect((host, {{port}})); print("CONNECTED", host)
                except OSError as e:
                    print("refused", host, e.errno)
            """);
        Assert.DoesNotContain("CONNECTED", o.Stdout);
        Assert.Contains("ifaces ['lo']", o.Stdout);
        Assert.False(listener.Pending(), "the host listener saw a connection from the sandbox");
    }

    [Theory]
    [MemberData(nameof(OciFixture.Runtimes), MemberType = typeof(OciFixture))]
    public async Task CannotWriteRootOrSystemDirs(string runtime)
    {
        var name = "airlock-probe-" + Guid.NewGuid().ToString("N");
        var o = await f.RunAsync(OciFixture.Shell(runtime), "sh", "-c",
            $"for d in / /usr /usr/bin /etc /.airlock /proc/sys/kernel /dev; do touch $d/{name} 2>/dev/null && echo WROTE $d; done; " +
            $"touch /workspace/{name} && echo ws-ok; touch /tmp/{name} && echo tmp-ok; " +
            "(echo x > /.airlock/guest) 2>/dev/null && echo WROTE-GUEST; " +
            "(echo sandbox > /proc/sys/kernel/hostname) 2>/dev/null && echo WROTE-HOSTNAME; true");
        Assert.DoesNotContain("WROTE", o.Stdout);
        Assert.Contains("ws-ok", o.Stdout);
        Assert.Contains("tmp-ok", o.Stdout);
        Assert.False(File.Exists("/usr/" + name));
        Assert.False(File.Exists("/" + name));
    }

    [Theory]
    [MemberData(nameof(OciFixture.Runtimes), MemberType = typeof(OciFixture))]
    public async Task CannotMountPtraceBpfOrCreateNamespaces(string runtime)
    {
        var o = await f.RunAsync(OciFixture.Shell(runtime), Py, "-c", """
            import ctypes, os, struct, tempfile
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            def report(name, r):
                print(name, "OK" if r >= 0 else "denied", ctypes.get_errno() if r < 0 else r, flush=True)
            target = tempfile.mkdtemp(dir="/tmp")
            r = libc.mount(b"none", target.encode(), b"tmpfs", 0, None)
            report("mount", r)
            if r == 0: libc.umount2(target.encode(), 2)
            report("ptrace_traceme", libc.ptrace(0, 0, 0, 0))
            report("ptrace_attach_parent", libc.ptrace(16, os.getppid(), 0, 0))
            attr = ctypes.create_string_buffer(struct.pack("IIII", 2, 4, 4, 1) + bytes(112))
            report("bpf_map_create", libc.syscall(321, 0, attr, 128))
            report("unshare_user", libc.unshare(0x10000000))
            report("unshare_mount", libc.unshare(0x00020000))
            report("unshare_net", libc.unshare(0x40000000))
            r = libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0)
            if r == 0: os._exit(0)
            report("clone_newuser", r)
            if r > 0: os.waitpid(r, 0)
            args = ctypes.create_string_buffer(struct.pack("QQQQQQQQQQQ", 0x10000000, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0))
            r = libc.syscall(435, args, 88)
            if r == 0: os._exit(0)
            report("clone3_newuser", r)
            if r > 0: os.waitpid(r, 0)
            report("keyctl", libc.syscall(250, 0, 0, 0, 0, 0))
            report("userfaultfd", libc.syscall(323, 0))
            report("perf_event_open", libc.syscall(298, bytes(128), 0, -1, -1, 0))
            report("io_uring_setup", libc.syscall(425, 1, bytes(120)))
            report("setns", libc.setns(os.open("/proc/self/ns/net", os.O_RDONLY), 0))
            """);
        foreach (var probe in new[] { "mount", "ptrace_traceme", "ptrace_attach_parent", "bpf_map_create", "unshare_user", "unshare_mount",
                     "unshare_net", "clone_newuser", "clone3_newuser", "keyctl", "userfaultfd", "perf_event_open", "io_uring_setup", "setns" })
        {
            Assert.Contains($"{probe} denied", o.Stdout);
        }
        Assert.DoesNotContain(" OK ", o.Stdout);
    }

    [Theory]
    [MemberData(nameof(OciFixture.Runtimes), MemberType = typeof(OciFixture))]
    public async Task HasNoCapabilitiesAndNoNewPrivileges(string runtime)
    {
        var o = await f.RunAsync(OciFixture.Shell(runtime), "sh", "-c",
            "grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|Uid|Gid):' /proc/self/status; " +
            "python3 -c 'import ctypes; print(\"nnp\", ctypes.CDLL(None).prctl(39, 0, 0, 0, 0))'; id -u");
        // gVisor's /proc omits CapAmb; the other four are always there.
        foreach (var cap in new[] { "CapInh", "CapPrm", "CapEff", "CapBnd" })
        {
            Assert.Matches($@"{cap}:\s+0000000000000000", o.Stdout);
        }
        Assert.DoesNotMatch(@"CapAmb:\s+0*[1-9a-f]", o.Stdout);
        Assert.True(o.Stdout.Contains("nnp 1", StringComparison.Ordinal), o.ToString());
        Assert.Matches(@"Uid:\s+65534\s+65534\s+65534\s+65534", o.Stdout);
        Assert.EndsWith("65534\n", o.Stdout);
        // Changing identity needs a capability the sandbox lacks: try it in a forked child only.
        var su = await f.RunAsync(OciFixture.Shell(runtime), Py, "-c",
            "import os\nif os.fork() == 0:\n    try:\n        os.setuid(0); print('BECAME ROOT', flush=True)\n    except OSError as e:\n        print('setuid denied', e.errno, flush=True)\n    os._exit(0)\nos.wait()");
        Assert.Contains("setuid denied", su.Stdout);
        Assert.DoesNotContain("BECAME ROOT", su.Stdout);
    }

    [Theory]
    [MemberData(nameof(OciFixture.Runtimes), MemberType = typeof(OciFixture))]
    public async Task HostEnvironmentIsAbsent(string runtime)
    {
        var marker = "AIRLOCK_TEST_SECRET_" + Guid.NewGuid().ToString("N")[..8];
        Environment.SetEnvironmentVariable(marker, "leaked");
        try
        {
            var o = await f.RunAsync(OciFixture.Shell(runtime), "env");
            Assert.DoesNotContain(marker, o.Stdout);
            Assert.DoesNotContain("DOTNET", o.Stdout);
            var names = o.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('=')[0]).Order().ToArray();
            Assert.Equal(new[] { "HOME", "LANG", "PATH", "TMPDIR" }, names);
        }
        finally
        {
            Environment.SetEnvironmentVariable(marker, null);
        }
    }
}
