using System.Collections.Concurrent;
using Airlock.Client;
using Airlock.ControlPlane.Audit;
using Airlock.ControlPlane.Store;
using Airlock.Core.Backends;
using Airlock.Core.Control;
using Airlock.Core.Templates;

namespace Airlock.Server.Tests;

/// <summary>A daemon killed with SIGKILL in the middle of a burst of claims, execs and runs: the next start finds
/// everything it left, nothing leaks, and no acknowledged audit record is lost.</summary>
public sealed class CrashTests
{
    [Fact]
    public async Task SigkillDuringABurstLeaksNothingAndLosesNoAcknowledgedAuditRecord()
    {
        await using var d = await Daemon.StartAsync();
        var token = await d.TokenAsync("acme");
        using var admin = d.Client(token);
        await admin.ApplyPoolAsync("p", new SandboxWarmPoolSpec { Replicas = 3, SandboxTemplateRef = new NameRef("shell") });
        await Daemon.PoolReadyAsync(admin, "p", 3);
        await admin.CreateSandboxAsync("base", new SandboxSpec { SandboxTemplateRef = new NameRef("shell") });
        await admin.WriteFileAsync("base", "before-crash", new MemoryStream("x"u8.ToArray()));

        var acked = new ConcurrentBag<(long Seq, string Action, string Target)>();
        using var stop = new CancellationTokenSource();
        async Task Worker(int w)
        {
            using var c = d.Client(token);
            void Ack(string action, string target) => acked.Add((c.LastAuditSeq ?? throw new InvalidOperationException("no audit seq"), action, target));
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                try
                {
                    var name = $"w{w}-{n}";
                    await c.CreateClaimAsync(new CreateClaimRequest(name, new SandboxClaimSpec { WarmPoolRef = new NameRef("p") }));
                    Ack("claim.create", name);
                    await c.ExecAsync(name, new ExecSpec(["echo", name]), ExecIo.Null);
                    Ack("sandbox.exec", name);
                    await c.ExecAsync("base", new ExecSpec(["sh", "-c", $"echo {name} >> log"]), ExecIo.Null);
                    Ack("sandbox.exec", "base");
                    if (n % 3 == 0)
                    {
                        await c.RunAsync(BuiltinTemplates.Shell with { Resources = BuiltinTemplates.Shell.Resources with { Pids = 64 } }, new ExecSpec(["true"]), ExecIo.Null);
                        Ack("sandbox.run", "shell");
                    }
                    if (n % 2 == 0)
                    {
                        await c.DeleteClaimAsync(name);
                        Ack("claim.delete", name);
                    }
                }
                catch (Exception) when (stop.IsCancellationRequested || d.Pid is null)
                {
                    return;
                }
            }
        }
        var workers = Enumerable.Range(0, 3).Select(w => Task.Run(() => Worker(w))).ToArray();
        await Task.Delay(2500);
        d.Kill();
        await stop.CancelAsync();
        foreach (var w in workers)
        {
            try
            {
                await w;
            }
            catch (Exception e) when (e is HttpRequestException or IOException or AirlockApiException or Core.AirlockException or OperationCanceledException)
            {
            }
        }
        Assert.True(acked.Count >= 10, $"only {acked.Count} calls were acknowledged before the kill");

        await d.StartProcessAsync();

        // Every acknowledged call is in the log, as what it was, and the chain is intact.
        using (var store = new ControlStore(d.DataDir, readOnly: true))
        {
            var records = store.Locked(db => AuditLog.Read(db)).ToDictionary(r => r.Seq);
            foreach (var (seq, action, target) in acked)
            {
                Assert.True(records.TryGetValue(seq, out var r), $"acknowledged audit record {seq} ({action} {target}) is missing");
                Assert.Equal((action, target), (r!.Action, r.Target));
            }
            Assert.Null(store.Locked(db => AuditLog.Verify(db, out _)));
            Assert.Contains(records.Values, r => r.Action == "daemon.start" && r.Seq > acked.Max(a => a.Seq));
        }

        // The pool refills; whatever the host holds is known to the store, and whatever is ready works.
        // Teardown runs after the store forgets a sandbox (a lost pool member, say), so allow the host a moment to
        // catch up; a real leak never does.
        await Daemon.PoolReadyAsync(admin, "p", 3);
        IReadOnlyList<Sandbox> sandboxes = [];
        HashSet<string> known = [];
        string unknown = "";
        for (var wait = System.Diagnostics.Stopwatch.StartNew(); wait.Elapsed < TimeSpan.FromSeconds(15); await Task.Delay(100))
        {
            sandboxes = await admin.ListSandboxesAsync();
            known = sandboxes.Select(s => s.Status.BackendId).OfType<string>().ToHashSet();
            var onHost = d.BackendIds().Concat(d.Cgroups()).Concat(d.RuntimeContainers()).Where(id => !known.Contains(id))
                .Concat(d.Mounts().Where(m => !known.Any(id => m.Contains("/" + id + "/", StringComparison.Ordinal)))).ToList();
            unknown = string.Join(", ", onHost.Distinct());
            if (onHost.Count == 0)
            {
                break;
            }
        }
        Assert.True(unknown.Length == 0, "on the host but unknown to the store: " + unknown);
        foreach (var s in sandboxes.Where(s => Conditions.IsTrue(s.Status.Conditions, Conditions.Ready) && s.Status.WarmPool is null))
        {
            Assert.Equal(0, (await admin.ExecAsync(s.Name, new ExecSpec(["true"]), ExecIo.Null)).ExitCode);
        }
        var kept = new MemoryStream();
        await admin.ReadFileAsync("base", "before-crash", kept);
        Assert.Equal("x"u8.ToArray(), kept.ToArray());

        // And once everything is deleted, nothing at all is left on the host.
        foreach (var claim in await admin.ListClaimsAsync())
        {
            await admin.DeleteClaimAsync(claim.Name);
        }
        await admin.DeletePoolAsync("p");
        foreach (var s in await admin.ListSandboxesAsync())
        {
            await admin.DeleteSandboxAsync(s.Name);
        }
        await Daemon.EventuallyAsync(() => Task.FromResult(d.BackendIds().Count == 0 && d.Cgroups().Count == 0 && d.RuntimeContainers().Count == 0 && d.Mounts().Count == 0),
            "no sandbox directory, cgroup, runtime state or mount to be left", 15);
    }

    [Fact]
    public async Task ASandboxWhoseProcessesDiedWhileTheDaemonWasDownIsMarkedLost()
    {
        await using var d = await Daemon.StartAsync();
        using var c = await d.TenantAsync("acme");
        var s = await c.CreateSandboxAsync("victim", new SandboxSpec { SandboxTemplateRef = new NameRef("shell") });
        d.Kill();
        // Kill the sandbox's processes behind the daemon's back (as an OOM kill or a reboot would).
        LifecycleTests.KillBehindTheDaemon(s.Status.BackendId!);
        await Task.Delay(300);
        await d.StartProcessAsync();
        var lost = await c.GetSandboxAsync("victim");
        Assert.Equal(Conditions.SandboxLost, Conditions.Find(lost.Status.Conditions, Conditions.Finished)?.Reason);
        Assert.False(Conditions.IsTrue(lost.Status.Conditions, Conditions.Ready));
        Assert.Empty(d.BackendIds());
        Assert.Empty(d.Mounts());
        Assert.Empty(d.Cgroups());
    }
}
