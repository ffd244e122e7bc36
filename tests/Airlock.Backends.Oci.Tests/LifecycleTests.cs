using System.Diagnostics;
using System.Text;
using Airlock.Core;
using Airlock.Core.Backends;
using Airlock.Guest.Protocol;

namespace Airlock.Backends.Oci.Tests;

public sealed class LifecycleTests(OciFixture f) : IClassFixture<OciFixture>
{
    [Theory]
    [MemberData(nameof(OciFixture.Runtimes), MemberType = typeof(OciFixture))]
    public async Task RunReturnsOutputExitCodeAndSignal(string runtime)
    {
        var t = OciFixture.Shell(runtime);
        var o = await f.RunAsync(t, "sh", "-c", "echo out; echo err >&2; exit 7");
        Assert.Equal("out\n", o.Stdout);
        Assert.Equal("err\n", o.Stderr);
        Assert.Equal(7, o.Result.ExitCode);
        Assert.Null(o.Result.KilledReason);
        var killed = await f.RunAsync(t, "sh", "-c", "kill -TERM $$");
        Assert.Equal(15, killed.Result.Signal);
        Assert.Equal(143, killed.Result.ExitCode);
        var missing = await f.RunAsync(t, "no-such-program");
        Assert.Equal(127, missing.Result.ExitCode);
        Assert.Contains("no-such-program", missing.Stderr);
        var stdin = await f.RunAsync(t, new ExecSpec(["cat"]), new MemoryStream(Encoding.UTF8.GetBytes("piped in")));
        Assert.Equal("piped in", stdin.Stdout);
    }

    [Theory]
    [MemberData(nameof(OciFixture.Runtimes), MemberType = typeof(OciFixture))]
    public async Task SandboxLivesAcrossExecsAndFilesAreConfined(string runtime)
    {
        var s = await f.Backend.CreateAsync(OciFixture.Shell(runtime), CancellationToken.None);
        try
        {
            Assert.Equal(SandboxState.Running, await f.Backend.StatusAsync(s, CancellationToken.None));
            Assert.Equal(0, (await f.ExecAsync(s, "sh", "-c", "echo first > a.txt; mkdir d; ln -s /etc d/etc-link; ln -s ../../.. up; ln -s a.txt inside")).Result.ExitCode);
            Assert.Equal("first\n", (await f.ExecAsync(s, "cat", "/workspace/a.txt")).Stdout);

            var files = f.Backend.Files(s);
            var buf = new MemoryStream();
            await files.ReadAsync("a.txt", buf, CancellationToken.None);
            Assert.Equal("first\n", Encoding.UTF8.GetString(buf.ToArray()));
            buf.SetLength(0);
            await files.ReadAsync("inside", buf, CancellationToken.None);
            Assert.Equal("first\n", Encoding.UTF8.GetString(buf.ToArray()));

            await files.WriteAsync("b.txt", new MemoryStream("from host"u8.ToArray()), 0x1A4, CancellationToken.None);
            Assert.Equal("from host", (await f.ExecAsync(s, "cat", "b.txt")).Stdout);
            await files.MkdirAsync("x/y/z", parents: true, CancellationToken.None);
            var names = (await files.ListAsync(".", CancellationToken.None)).Select(e => e.Name).ToHashSet();
            Assert.Superset(new HashSet<string> { "a.txt", "b.txt", "d", "x", "up", "inside" }, names);

            foreach (var bad in new[] { "../x", "/etc/passwd", "a/../../x", "d/etc-link/passwd", "up/etc/passwd", "/workspace/../etc/passwd" })
            {
                var e = await Assert.ThrowsAsync<AirlockException>(() => files.ReadAsync(bad, new MemoryStream(), CancellationToken.None));
                Assert.Contains("path-escape", e.Message);
                var w = await Assert.ThrowsAsync<AirlockException>(() => files.WriteAsync(bad, new MemoryStream("x"u8.ToArray()), 0x1A4, CancellationToken.None));
                Assert.Contains("path-escape", w.Message);
            }
            var del = await Assert.ThrowsAsync<AirlockException>(() => files.DeleteAsync("d/etc-link/hostname", false, CancellationToken.None));
            Assert.Contains("path-escape", del.Message);

            await files.DeleteAsync("x", recursive: true, CancellationToken.None);
            Assert.DoesNotContain("x", (await files.ListAsync(".", CancellationToken.None)).Select(e => e.Name));
        }
        finally
        {
            await f.Backend.DestroyAsync(s, CancellationToken.None);
        }
        Assert.Empty(OciFixture.Leftovers(f.Home, s.Id));
        Assert.Equal(SandboxState.Gone, await f.Backend.StatusAsync(s, CancellationToken.None));
    }

    [Theory]
    [MemberData(nameof(OciFixture.Runtimes), MemberType = typeof(OciFixture))]
    public async Task DoubleForkedDaemonLeavesNothingBehind(string runtime)
    {
        var marker = "77" + Random.Shared.Next(1000, 9999) + "1";
        var o = await f.RunAsync(OciFixture.Shell(runtime), "sh", "-c", $"(setsid sleep {marker} < /dev/null > /dev/null 2>&1 &) ; (sleep {marker} &) ; echo started");
        Assert.Equal("started\n", o.Stdout);
        Assert.Empty(OciFixture.ProcessesWith("sleep " + marker));
        Assert.Empty(OciFixture.Leftovers(f.Home, o.SandboxId));

        var s = await f.Backend.CreateAsync(OciFixture.Shell(runtime), CancellationToken.None);
        await f.ExecAsync(s, "sh", "-c", $"(setsid sleep {marker} < /dev/null > /dev/null 2>&1 &)");
        if (runtime != "runsc")
        {
            // gVisor's processes live inside its sentry and are not host processes at all.
            var until = DateTime.UtcNow.AddSeconds(5);
            while (OciFixture.ProcessesWith("sleep " + marker).Count == 0 && DateTime.UtcNow < until)
            {
                await Task.Delay(20);
            }
            Assert.NotEmpty(OciFixture.ProcessesWith("sleep " + marker));
        }
        await f.Backend.DestroyAsync(s, CancellationToken.None);
        Assert.Empty(OciFixture.ProcessesWith("sleep " + marker));
        Assert.Empty(OciFixture.Leftovers(f.Home, s.Id));
    }

    [Theory]
    [MemberData(nameof(OciFixture.Runtimes), MemberType = typeof(OciFixture))]
    public async Task SuspendFreezesProcessesKeepsStateAndResumes(string runtime)
    {
        var s = await f.Backend.CreateAsync(OciFixture.Shell(runtime), CancellationToken.None);
        var counter = Path.Combine(f.Home, "sandboxes", s.Id, "workspace", "count");
        long Count() => long.TryParse(File.Exists(counter) ? File.ReadAllText(counter).Trim() : "", out var n) ? n : -1;
        async Task<long> CountAfter(int ms)
        {
            await Task.Delay(ms);
            return Count();
        }
        await f.ExecAsync(s, "sh", "-c", "(i=0; while :; do i=$((i+1)); echo $i > /workspace/count.tmp; mv /workspace/count.tmp /workspace/count; sleep 0.02; done) >/dev/null 2>&1 &");
        var a = await CountAfter(500);
        Assert.True(await CountAfter(300) > a, "the counter does not run");

        await f.Backend.SuspendAsync(s, CancellationToken.None);
        Assert.Equal(SandboxState.Suspended, await f.Backend.StatusAsync(s, CancellationToken.None));
        var frozen = await CountAfter(200);
        Assert.Equal(frozen, await CountAfter(400));
        var refused = await Assert.ThrowsAsync<AirlockException>(() => f.ExecAsync(s, "true"));
        Assert.Equal(AirlockException.ErrorCodes.Suspended, refused.Code);

        await f.Backend.ResumeAsync(s, CancellationToken.None);
        Assert.Equal(SandboxState.Running, await f.Backend.StatusAsync(s, CancellationToken.None));
        Assert.True(await CountAfter(400) > frozen, "the counter did not resume");
        Assert.Equal(0, (await f.ExecAsync(s, "true")).Result.ExitCode);

        // A suspended sandbox can still be destroyed, promptly and completely.
        await f.Backend.SuspendAsync(s, CancellationToken.None);
        var sw = Stopwatch.StartNew();
        await f.Backend.DestroyAsync(s, CancellationToken.None);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"destroy took {sw.Elapsed}");
        Assert.Empty(OciFixture.Leftovers(f.Home, s.Id));
    }

    [Fact]
    public async Task KilledCliIsReapedByTheNextInvocation()
    {
        var marker = "88" + Random.Shared.Next(1000, 9999) + "1";
        var psi = new ProcessStartInfo(Repo.Artifact("airlock"), ["run", "--", "sleep", marker])
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment["AIRLOCK_HOME"] = f.Home;
        using var cli = Process.Start(psi)!;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (OciFixture.ProcessesWith("sleep " + marker).Count == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the sandboxed sleep never started");
            await Task.Delay(20);
        }
        var id = f.Store.ListIds().Single(i => f.Store.TryGet(i)?.OwnerPid == cli.Id);
        cli.Kill();
        await cli.WaitForExitAsync();
        Assert.NotEmpty(OciFixture.Leftovers(f.Home, id));

        var reaped = await f.Backend.ReapOrphansAsync(CancellationToken.None);
        Assert.Contains(id, reaped);
        Assert.Empty(OciFixture.ProcessesWith("sleep " + marker));
        Assert.Empty(OciFixture.Leftovers(f.Home, id));
    }
}
