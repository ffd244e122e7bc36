using System.Text;
using Airlock.Client;
using Airlock.Core.Backends;
using Airlock.Core.Control;
using Airlock.Core.Model;
using Airlock.Core.Templates;

namespace Airlock.Server.Tests;

/// <summary>Warm pools, claims, expiry and suspend/resume through a real daemon and real crun sandboxes.</summary>
public sealed class LifecycleTests
{
    private static async Task<(int Exit, string Out)> ExecAsync(AirlockClient c, string sandbox, params string[] argv)
    {
        var o = new MemoryStream();
        var e = new MemoryStream();
        var r = await c.ExecAsync(sandbox, new ExecSpec(argv), ExecIo.Capture(o, e));
        return (r.ExitCode, Encoding.UTF8.GetString(o.ToArray()) + Encoding.UTF8.GetString(e.ToArray()));
    }

    private static async Task<List<Sandbox>> MembersAsync(AirlockClient c, string pool) =>
        (await c.ListSandboxesAsync()).Where(s => s.Status.WarmPool == pool).ToList();

    private static SandboxTemplate Template(string name, string x, string? idle = null) => BuiltinTemplates.Shell with
    {
        Name = name,
        Env = new Dictionary<string, string>(SandboxTemplate.DefaultEnv) { ["X"] = x },
        Lifetime = new LifetimeSpec { IdleTimeout = idle },
        EnvVarsInjectionPolicy = EnvVarsInjectionPolicies.Allowed,
    };

    [Fact]
    public async Task ClaimAdoptsAReadyWarmSandboxAndThePoolReplenishes()
    {
        await using var d = await Daemon.StartAsync();
        using var c = await d.TenantAsync("acme");
        await c.ApplyPoolAsync("warm", new SandboxWarmPoolSpec { Replicas = 1, SandboxTemplateRef = new NameRef("shell") });
        await Daemon.PoolReadyAsync(c, "warm", 1);
        var member = Assert.Single(await MembersAsync(c, "warm"));

        var claim = await c.CreateClaimAsync(new CreateClaimRequest("job-1", new SandboxClaimSpec { WarmPoolRef = new NameRef("warm") }));
        Assert.Equal("job-1", claim.Status.Sandbox?.Name);
        var ready = Conditions.Find(claim.Status.Conditions, Conditions.Ready)!;
        Assert.Equal((Conditions.True, Conditions.SandboxReady), (ready.Status, ready.Reason));
        var sandbox = await c.GetSandboxAsync("job-1");
        Assert.Equal("warm", sandbox.Status.LaunchType);
        Assert.Equal(member.Status.BackendId, sandbox.Status.BackendId);
        Assert.Null(sandbox.Status.WarmPool);
        Assert.Equal("job-1", sandbox.Status.Claim);
        Assert.Equal((0, "hi\n"), await ExecAsync(c, "job-1", "echo", "hi"));

        // The pool refills with a new sandbox; the adopted one is no longer a member.
        await Daemon.PoolReadyAsync(c, "warm", 1);
        var refill = Assert.Single(await MembersAsync(c, "warm"));
        Assert.NotEqual(member.Status.BackendId, refill.Status.BackendId);

        // Deleting the claim destroys its sandbox, on the host too.
        await c.DeleteClaimAsync("job-1");
        var e = await Assert.ThrowsAsync<AirlockApiException>(() => c.GetSandboxAsync("job-1"));
        Assert.Equal(404, e.Status);
        Assert.DoesNotContain(member.Status.BackendId!, d.BackendIds());
    }

    [Fact]
    public async Task ClaimWithoutAReadyWarmSandboxStartsOneCold()
    {
        await using var d = await Daemon.StartAsync();
        using var c = await d.TenantAsync("acme");
        await c.ApplyPoolAsync("empty", new SandboxWarmPoolSpec { Replicas = 0, SandboxTemplateRef = new NameRef("shell") });
        var fromPool = await c.CreateClaimAsync(new CreateClaimRequest("a", new SandboxClaimSpec { WarmPoolRef = new NameRef("empty") }));
        var fromTemplate = await c.CreateClaimAsync(new CreateClaimRequest("b", new SandboxClaimSpec { SandboxTemplateRef = new NameRef("python") }));
        foreach (var claim in new[] { fromPool, fromTemplate })
        {
            Assert.True(Conditions.IsTrue(claim.Status.Conditions, Conditions.Ready));
            var s = await c.GetSandboxAsync(claim.Name);
            Assert.Equal("cold", s.Status.LaunchType);
            Assert.NotNull(s.Status.BackendId);
        }
        Assert.Equal((0, "3\n"), await ExecAsync(c, "b", "python3", "-c", "print(1+2)"));
        Assert.Empty(await MembersAsync(c, "empty"));
    }

    [Fact]
    public async Task PoolScalesUpAndDown()
    {
        await using var d = await Daemon.StartAsync();
        using var c = await d.TenantAsync("acme");
        await c.ApplyPoolAsync("p", new SandboxWarmPoolSpec { Replicas = 3, SandboxTemplateRef = new NameRef("shell") });
        await Daemon.PoolReadyAsync(c, "p", 3);
        Assert.Equal(3, d.BackendIds().Count);
        await c.ApplyPoolAsync("p", new SandboxWarmPoolSpec { Replicas = 1, SandboxTemplateRef = new NameRef("shell") });
        await Daemon.PoolReadyAsync(c, "p", 1);
        await Daemon.EventuallyAsync(() => Task.FromResult(d.BackendIds().Count == 1), "scaled-down members to be destroyed on the host");
        await c.DeletePoolAsync("p");
        await Daemon.EventuallyAsync(() => Task.FromResult(d.BackendIds().Count == 0 && d.Mounts().Count == 0), "pool deletion to remove its sandboxes");
    }

    [Fact]
    public async Task RecreateReplacesStaleMembersAtOnce()
    {
        await using var d = await Daemon.StartAsync();
        using var c = await d.TenantAsync("acme");
        await c.ApplyTemplateAsync(Template("t1", "one"));
        await c.ApplyPoolAsync("p", new SandboxWarmPoolSpec { Replicas = 2, SandboxTemplateRef = new NameRef("t1"), UpdateStrategy = new UpdateStrategy(UpdateStrategies.Recreate) });
        await Daemon.PoolReadyAsync(c, "p", 2);
        var before = (await MembersAsync(c, "p")).Select(m => m.Status.BackendId).ToHashSet();

        await c.ApplyTemplateAsync(Template("t1", "two"));
        await Daemon.EventuallyAsync(async () =>
        {
            var now = await MembersAsync(c, "p");
            return now.Count == 2 && now.All(m => m.Status.BackendId is { } id && !before.Contains(id) && Conditions.IsTrue(m.Status.Conditions, Conditions.Ready));
        }, "both members to be replaced with the new template");
        await c.CreateClaimAsync(new CreateClaimRequest("job", new SandboxClaimSpec { WarmPoolRef = new NameRef("p") }));
        Assert.Equal((0, "two\n"), await ExecAsync(c, "job", "sh", "-c", "echo $X"));
        Assert.All(before, id => Assert.DoesNotContain(id!, d.BackendIds()));
    }

    [Fact]
    public async Task OnReplenishKeepsStaleMembersUntilTheyAreClaimed()
    {
        await using var d = await Daemon.StartAsync();
        using var c = await d.TenantAsync("acme");
        await c.ApplyTemplateAsync(Template("t1", "one"));
        await c.ApplyPoolAsync("p", new SandboxWarmPoolSpec { Replicas = 1, SandboxTemplateRef = new NameRef("t1"), UpdateStrategy = new UpdateStrategy(UpdateStrategies.OnReplenish) });
        await Daemon.PoolReadyAsync(c, "p", 1);
        var stale = Assert.Single(await MembersAsync(c, "p"));

        await c.ApplyTemplateAsync(Template("t1", "two"));
        await Task.Delay(1500); // several reconcile passes (0.2 s each)
        var still = Assert.Single(await MembersAsync(c, "p"));
        Assert.Equal(stale.Status.BackendId, still.Status.BackendId);

        // Claimed as it is (the old template), and replaced by a member of the new template.
        await c.CreateClaimAsync(new CreateClaimRequest("job", new SandboxClaimSpec { WarmPoolRef = new NameRef("p") }));
        Assert.Equal((0, "one\n"), await ExecAsync(c, "job", "sh", "-c", "echo $X"));
        await Daemon.PoolReadyAsync(c, "p", 1);
        var fresh = Assert.Single(await MembersAsync(c, "p"));
        Assert.NotEqual(stale.Status.TemplateHash, fresh.Status.TemplateHash);
        await c.CreateClaimAsync(new CreateClaimRequest("job2", new SandboxClaimSpec { WarmPoolRef = new NameRef("p") }));
        Assert.Equal((0, "two\n"), await ExecAsync(c, "job2", "sh", "-c", "echo $X"));
    }

    [Fact]
    public async Task ShutdownTimeWithRetainTearsDownButKeepsTheObject()
    {
        await using var d = await Daemon.StartAsync();
        using var c = await d.TenantAsync("acme");
        var s = await c.CreateSandboxAsync("short", new SandboxSpec { SandboxTemplateRef = new NameRef("shell"), ShutdownTime = DateTimeOffset.UtcNow.AddSeconds(1.5) });
        Assert.Equal((0, "up\n"), await ExecAsync(c, "short", "echo", "up"));
        await Daemon.EventuallyAsync(async () => Conditions.IsTrue((await c.GetSandboxAsync("short")).Status.Conditions, Conditions.Finished), "the sandbox to expire");
        var expired = await c.GetSandboxAsync("short");
        var ready = Conditions.Find(expired.Status.Conditions, Conditions.Ready)!;
        Assert.Equal((Conditions.False, Conditions.SandboxExpired), (ready.Status, ready.Reason));
        Assert.Null(expired.Status.BackendId);
        var e = await Assert.ThrowsAsync<AirlockApiException>(() => ExecAsync(c, "short", "true"));
        Assert.Equal(409, e.Status);
        await Daemon.EventuallyAsync(() => Task.FromResult(!d.BackendIds().Contains(s.Status.BackendId!)), "the expired sandbox to be destroyed on the host");
    }

    [Fact]
    public async Task ShutdownTimeWithDeleteRemovesTheObject()
    {
        await using var d = await Daemon.StartAsync();
        using var c = await d.TenantAsync("acme");
        await c.CreateSandboxAsync("gone", new SandboxSpec
        {
            SandboxTemplateRef = new NameRef("shell"),
            ShutdownTime = DateTimeOffset.UtcNow.AddSeconds(1),
            ShutdownPolicy = ShutdownPolicies.Delete,
        });
        await Daemon.EventuallyAsync(async () => (await c.ListSandboxesAsync()).Count == 0, "the sandbox to be deleted at its shutdown time");
        // The store forgets it first, then the host is cleaned.
        await Daemon.EventuallyAsync(() => Task.FromResult(d.BackendIds().Count == 0 && d.Mounts().Count == 0), "its processes, mounts and directory to be removed");
    }

    [Fact]
    public async Task IdleTimeoutExpiresOnlyAnIdleSandbox()
    {
        await using var d = await Daemon.StartAsync();
        using var c = await d.TenantAsync("acme");
        await c.ApplyTemplateAsync(Template("idle", "x", idle: "1500ms"));
        await c.CreateSandboxAsync("busy", new SandboxSpec { SandboxTemplateRef = new NameRef("idle") });
        // Activity every 400 ms for 3 s keeps it alive past twice its idle timeout.
        for (var i = 0; i < 8; i++)
        {
            Assert.Equal(0, (await ExecAsync(c, "busy", "true")).Exit);
            await Task.Delay(400);
        }
        Assert.True(Conditions.IsTrue((await c.GetSandboxAsync("busy")).Status.Conditions, Conditions.Ready));
        await Daemon.EventuallyAsync(async () => Conditions.IsTrue((await c.GetSandboxAsync("busy")).Status.Conditions, Conditions.Finished), "idle expiry", 10);
        var finished = Conditions.Find((await c.GetSandboxAsync("busy")).Status.Conditions, Conditions.Finished)!;
        Assert.Equal(Conditions.IdleTimeout, finished.Reason);
    }

    [Fact]
    public async Task ClaimIsDeletedTtlSecondsAfterItsSandboxFinished()
    {
        await using var d = await Daemon.StartAsync();
        using var c = await d.TenantAsync("acme");
        await c.CreateClaimAsync(new CreateClaimRequest("brief", new SandboxClaimSpec
        {
            SandboxTemplateRef = new NameRef("shell"),
            Lifecycle = new ClaimLifecycle { ShutdownTime = DateTimeOffset.UtcNow.AddSeconds(1), TtlSecondsAfterFinished = 1 },
        }));
        SandboxClaim? expired = null;
        await Daemon.EventuallyAsync(async () =>
        {
            expired = await c.GetClaimAsync("brief");
            return expired.Status.FinishedAt is not null;
        }, "the claim to expire");
        Assert.Equal(Conditions.ClaimExpired, Conditions.Find(expired!.Status.Conditions, Conditions.Ready)!.Reason);
        await Daemon.EventuallyAsync(async () => (await c.ListClaimsAsync()).Count == 0 && (await c.ListSandboxesAsync()).Count == 0,
            "ttlSecondsAfterFinished to delete the claim and its sandbox");
        Assert.Empty(d.BackendIds());
    }

    [Fact]
    public async Task SuspendFreezesProcessesAndResumeKeepsFilesAndProcesses()
    {
        await using var d = await Daemon.StartAsync();
        using var c = await d.TenantAsync("acme");
        await c.CreateSandboxAsync("frozen", new SandboxSpec { SandboxTemplateRef = new NameRef("shell") });
        await c.WriteFileAsync("frozen", "note.txt", new MemoryStream("kept"u8.ToArray()));
        // A ticker that outlives its exec: one line every 50 ms.
        await ExecAsync(c, "frozen", "sh", "-c", "nohup sh -c 'while true; do echo t >> ticks; sleep 0.05; done' >/dev/null 2>&1 & echo $! > ticker.pid");
        await Task.Delay(500);
        var pid = (await ExecAsync(c, "frozen", "cat", "ticker.pid")).Out.Trim();
        var before = int.Parse((await ExecAsync(c, "frozen", "sh", "-c", "wc -l < ticks")).Out.Trim(), System.Globalization.CultureInfo.InvariantCulture);

        var s = await c.SuspendAsync("frozen");
        Assert.Equal(OperatingModes.Suspended, s.Spec.OperatingMode);
        Assert.True(Conditions.IsTrue(s.Status.Conditions, Conditions.Suspended));
        Assert.Equal(Conditions.SandboxSuspended, Conditions.Find(s.Status.Conditions, Conditions.Ready)!.Reason);
        var refused = await Assert.ThrowsAsync<AirlockApiException>(() => ExecAsync(c, "frozen", "true"));
        Assert.Equal(("suspended", 409), (refused.Code, refused.Status));
        await Assert.ThrowsAsync<AirlockApiException>(() => c.ListFilesAsync("frozen"));
        await Task.Delay(1500);

        var resumed = await c.ResumeAsync("frozen");
        Assert.True(Conditions.IsTrue(resumed.Status.Conditions, Conditions.Ready));
        Assert.False(Conditions.IsTrue(resumed.Status.Conditions, Conditions.Suspended));
        var after = int.Parse((await ExecAsync(c, "frozen", "sh", "-c", "wc -l < ticks")).Out.Trim(), System.Globalization.CultureInfo.InvariantCulture);
        // Frozen for 1.5 s: a running ticker would have added ~30 lines.
        Assert.True(after - before < 12, $"ticker ran while suspended: {before} -> {after}");
        Assert.Equal((0, ""), await ExecAsync(c, "frozen", "kill", "-0", pid));
        var kept = new MemoryStream();
        await c.ReadFileAsync("frozen", "note.txt", kept);
        Assert.Equal("kept", Encoding.UTF8.GetString(kept.ToArray()));
        await Task.Delay(300);
        var later = int.Parse((await ExecAsync(c, "frozen", "sh", "-c", "wc -l < ticks")).Out.Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(later > after, "the ticker did not resume");
    }

    [Fact]
    public async Task EphemeralRunLeavesNothingAndUsesAWarmSandboxWhenOneMatches()
    {
        await using var d = await Daemon.StartAsync();
        using var c = await d.TenantAsync("acme");
        var o = new MemoryStream();
        var cold = await c.RunAsync(BuiltinTemplates.Shell, new ExecSpec(["sh", "-c", "echo cold; exit 4"]), ExecIo.Capture(o, new MemoryStream()));
        Assert.Equal(4, cold.Result.ExitCode);
        Assert.Equal("cold\n", Encoding.UTF8.GetString(o.ToArray()));
        Assert.Empty(await c.ListSandboxesAsync());
        Assert.Empty(d.BackendIds());

        await c.ApplyPoolAsync("p", new SandboxWarmPoolSpec { Replicas = 1, SandboxTemplateRef = new NameRef("shell") });
        await Daemon.PoolReadyAsync(c, "p", 1);
        var member = Assert.Single(await MembersAsync(c, "p"));
        var warm = await c.RunAsync(BuiltinTemplates.Shell, new ExecSpec(["true"]), ExecIo.Null);
        Assert.Equal(member.Status.BackendId, warm.SandboxId);
        // Torn down right after the answer.
        await Daemon.EventuallyAsync(() => Task.FromResult(!d.BackendIds().Contains(warm.SandboxId)), "the warm sandbox to be destroyed after the run");
        await Daemon.PoolReadyAsync(c, "p", 1);
    }

    /// <summary>Kills every process of a backend sandbox behind the daemon's back, as the OOM killer or an operator would.</summary>
    internal static void KillBehindTheDaemon(string backendId)
    {
        foreach (var procs in Directory.GetFiles("/sys/fs/cgroup/pids", "cgroup.procs", SearchOption.AllDirectories)
            .Where(p => p.Contains("/" + backendId + "/", StringComparison.Ordinal)))
        {
            foreach (var pid in File.ReadAllLines(procs).Where(l => l.Length > 0))
            {
                try
                {
                    System.Diagnostics.Process.GetProcessById(int.Parse(pid, System.Globalization.CultureInfo.InvariantCulture)).Kill();
                }
                catch (ArgumentException)
                {
                }
            }
        }
    }

    [Fact]
    public async Task SandboxesKilledBehindARunningDaemonAreMarkedLostAndPoolsRefill()
    {
        await using var d = await Daemon.StartAsync();
        using var c = await d.TenantAsync("acme");
        await c.ApplyPoolAsync("p", new SandboxWarmPoolSpec { Replicas = 1, SandboxTemplateRef = new NameRef("shell") });
        await Daemon.PoolReadyAsync(c, "p", 1);
        var member = Assert.Single(await MembersAsync(c, "p"));
        await c.CreateClaimAsync(new CreateClaimRequest("job", new SandboxClaimSpec { SandboxTemplateRef = new NameRef("shell") }));
        var job = await c.GetSandboxAsync("job");

        KillBehindTheDaemon(member.Status.BackendId!);
        KillBehindTheDaemon(job.Status.BackendId!);

        await Daemon.EventuallyAsync(async () => Conditions.Find((await c.GetSandboxAsync("job")).Status.Conditions, Conditions.Finished)?.Reason == Conditions.SandboxLost,
            "the claimed sandbox to be marked lost");
        var claim = await c.GetClaimAsync("job");
        Assert.NotNull(claim.Status.FinishedAt);
        Assert.Equal(Conditions.SandboxNotReady, Conditions.Find(claim.Status.Conditions, Conditions.Ready)!.Reason);
        await Daemon.EventuallyAsync(async () => (await MembersAsync(c, "p")) is [var m] && m.Status.BackendId != member.Status.BackendId
            && Conditions.IsTrue(m.Status.Conditions, Conditions.Ready), "the pool to replace its dead member");
        await Daemon.EventuallyAsync(() => Task.FromResult(!d.BackendIds().Contains(member.Status.BackendId!) && !d.BackendIds().Contains(job.Status.BackendId!)),
            "what was left of both to be cleaned up");
    }

    [Fact]
    public async Task ARestartedDaemonAdoptsRunningSandboxesWithTheirFiles()
    {
        await using var d = await Daemon.StartAsync();
        using var c = await d.TenantAsync("acme");
        await c.CreateSandboxAsync("keep", new SandboxSpec { SandboxTemplateRef = new NameRef("shell") });
        await c.WriteFileAsync("keep", "data", new MemoryStream("survives"u8.ToArray()));
        await d.StopAsync();
        await d.StartProcessAsync();
        var s = await c.GetSandboxAsync("keep");
        Assert.True(Conditions.IsTrue(s.Status.Conditions, Conditions.Ready));
        Assert.Equal((0, "survives"), await ExecAsync(c, "keep", "cat", "data"));
    }
}
