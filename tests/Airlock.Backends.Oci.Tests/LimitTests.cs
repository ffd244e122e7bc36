using System.Diagnostics;
using Airlock.Core.Backends;
using Airlock.Guest.Protocol;

namespace Airlock.Backends.Oci.Tests;

/// <summary>Every limit bites: the workload hits it and is stopped, with the reason reported.</summary>
public sealed class LimitTests(OciFixture f) : IClassFixture<OciFixture>
{
    [Theory]
    [MemberData(nameof(OciFixture.Runtimes), MemberType = typeof(OciFixture))]
    public async Task MemoryBombIsKilledWithReasonMemory(string runtime)
    {
        var t = OciFixture.Shell(runtime, r => r with { Memory = "64Mi" });
        var o = await f.RunAsync(t, "python3", "-c", "b = []\nwhile True: b.append(bytearray(8 << 20))");
        Assert.Equal(KillReasons.Memory, o.Result.KilledReason);
        Assert.Equal(137, o.Result.ExitCode);
    }

    [Theory]
    [MemberData(nameof(OciFixture.Runtimes), MemberType = typeof(OciFixture))]
    public async Task ForkBombStopsAtThePidsLimitAndHostStaysResponsive(string runtime)
    {
        var t = OciFixture.Shell(runtime, r => r with { Pids = runtime == "runsc" ? 128 : 32, Timeout = "6s" });
        var bomb = f.RunAsync(t, "python3", "-c", """
            import os, time
            n = 0
            try:
                for _ in range(1000):
                    if os.fork() == 0:
                        time.sleep(30); os._exit(0)
                    n += 1
            except OSError as e:
                print("fork refused after", n, "errno", e.errno, flush=True)
            time.sleep(30)
            """);
        // While the bomb runs, the host still starts processes promptly.
        await Task.Delay(1500);
        var sw = Stopwatch.StartNew();
        using (var p = Process.Start(new ProcessStartInfo("/bin/true") { UseShellExecute = false })!)
        {
            await p.WaitForExitAsync();
        }
        Assert.True(sw.ElapsedMilliseconds < 1000, $"host /bin/true took {sw.ElapsedMilliseconds} ms during the fork bomb");
        var o = await bomb;
        if (runtime == "runsc")
        {
            // gVisor's sentry runs the sandbox's tasks on host threads of the same cgroup: at the limit the sentry
            // itself cannot grow and the whole sandbox ends, reported as a pids kill.
            Assert.True(o.Result.KilledReason is KillReasons.Pids or KillReasons.Timeout, o.ToString());
            return;
        }
        Assert.Contains("fork refused after", o.Stdout);
        var forked = int.Parse(o.Stdout.Split("after ")[1].Split(' ')[0]);
        Assert.True(forked < 32, o.ToString());
        Assert.Equal(KillReasons.Timeout, o.Result.KilledReason);
    }

    [Theory]
    [MemberData(nameof(OciFixture.Runtimes), MemberType = typeof(OciFixture))]
    public async Task CpuSpinAndSleepAreKilledAtTheTimeout(string runtime)
    {
        var t = OciFixture.Shell(runtime);
        foreach (var argv in new[] { new[] { "sh", "-c", "while :; do :; done" }, new[] { "sleep", "30" } })
        {
            var sw = Stopwatch.StartNew();
            var o = await f.RunAsync(t, new ExecSpec(argv, Timeout: TimeSpan.FromSeconds(1)));
            Assert.Equal(KillReasons.Timeout, o.Result.KilledReason);
            Assert.Equal(9, o.Result.Signal);
            Assert.Equal(137, o.Result.ExitCode);
            Assert.InRange(sw.Elapsed.TotalSeconds, 0.9, 6);
        }
    }

    [Theory]
    [MemberData(nameof(OciFixture.Runtimes), MemberType = typeof(OciFixture))]
    public async Task CpuQuotaThrottles(string runtime)
    {
        // Work done in the same wall time with a fifth of a core versus a whole one, counted by the workload itself
        // (gVisor's own CPU accounting does not see host throttling, so CPU time cannot be the measure).
        const string loop = "import time\nn = 0\nend = time.time() + 1.5\nwhile time.time() < end: n += 1\nprint(n)";
        var slow = await f.RunAsync(OciFixture.Shell(runtime, r => r with { Cpus = 0.2 }), "python3", "-c", loop);
        var fast = await f.RunAsync(OciFixture.Shell(runtime, r => r with { Cpus = 1 }), "python3", "-c", loop);
        var ratio = double.Parse(slow.Stdout) / double.Parse(fast.Stdout);
        Assert.True(ratio < 0.5, $"0.2 cores did {ratio:P0} of the work of 1 core");
    }

    [Theory]
    [MemberData(nameof(OciFixture.Runtimes), MemberType = typeof(OciFixture))]
    public async Task OutputFloodIsTruncatedAtTheCap(string runtime)
    {
        var o = await f.RunAsync(OciFixture.Shell(runtime), new ExecSpec(["yes", "flood"], OutputLimit: 10_000));
        Assert.Equal(10_000, o.Stdout.Length);
        Assert.Equal(KillReasons.OutputLimit, o.Result.KilledReason);
        Assert.True(o.Result.Truncated);
    }

    [Theory]
    [MemberData(nameof(OciFixture.Runtimes), MemberType = typeof(OciFixture))]
    public async Task DiskFillStopsAtWorkspaceAndTmpCaps(string runtime)
    {
        var t = OciFixture.Shell(runtime, r => r with { Disk = "8Mi" }) with { Workspace = new() { Size = "4Mi" } };
        var o = await f.RunAsync(t, "sh", "-c",
            "dd if=/dev/zero of=/workspace/fill bs=1M count=64 2>&1; echo ws=$(wc -c < /workspace/fill); " +
            "dd if=/dev/zero of=/tmp/fill bs=1M count=64 2>&1; echo tmp=$(wc -c < /tmp/fill)");
        Assert.Contains("No space left on device", o.Stdout);
        var ws = long.Parse(o.Stdout.Split("ws=")[1].Split('\n')[0]);
        var tmp = long.Parse(o.Stdout.Split("tmp=")[1].Split('\n')[0]);
        Assert.InRange(ws, 1, 4L << 20);
        Assert.InRange(tmp, 1, 8L << 20);
    }

    [Theory]
    [MemberData(nameof(OciFixture.Runtimes), MemberType = typeof(OciFixture))]
    public async Task OpenFilesLimitApplies(string runtime)
    {
        var t = OciFixture.Shell(runtime, r => r with { OpenFiles = 64 });
        var o = await f.RunAsync(t, "sh", "-c", "ulimit -n; ulimit -Hn");
        Assert.Equal("64\n64\n", o.Stdout);
    }
}
