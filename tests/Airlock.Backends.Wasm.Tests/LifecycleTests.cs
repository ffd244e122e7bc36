using Airlock.Core;
using Airlock.Core.Backends;
using Airlock.Core.Model;
using Airlock.Core.Storage;

namespace Airlock.Backends.Wasm.Tests;

public sealed class LifecycleTests(WasmFixture f) : IClassFixture<WasmFixture>
{
    [Fact]
    public async Task A_module_in_the_workspace_runs_by_relative_or_absolute_path()
    {
        var sandbox = await f.Backend.CreateAsync(WasmFixture.Template(), CancellationToken.None);
        try
        {
            Assert.Equal(SandboxState.Running, await f.Backend.StatusAsync(sandbox, CancellationToken.None));
            await f.Backend.Files(sandbox).MkdirAsync("bin", parents: true, CancellationToken.None);
            await using (var module = File.OpenRead(Fixtures.Path("hello")))
            {
                await f.Backend.Files(sandbox).WriteAsync("bin/hello.wasm", module, 0x1A4, CancellationToken.None);
            }
            var relative = await Captured.ExecAsync(f.Backend, sandbox, new ExecSpec(["bin/hello.wasm", "4"]));
            Assert.Equal(4, relative.Result.ExitCode);
            Assert.Contains("arg0=bin/hello.wasm", relative.Stdout);
            var absolute = await Captured.ExecAsync(f.Backend, sandbox, new ExecSpec(["/workspace/bin/hello.wasm", "6"]));
            Assert.Equal(6, absolute.Result.ExitCode);

            var e = await Assert.ThrowsAsync<AirlockException>(() => Captured.ExecAsync(f.Backend, sandbox, new ExecSpec(["../hello.wasm"])));
            Assert.Equal(AirlockException.ErrorCodes.File, e.Code);
        }
        finally
        {
            await f.Backend.DestroyAsync(sandbox, CancellationToken.None);
        }
        Assert.Equal(SandboxState.Gone, await f.Backend.StatusAsync(sandbox, CancellationToken.None));
        Assert.False(Directory.Exists(Path.Combine(f.Home, "wasm", "sandboxes", sandbox.Id)));
        Assert.DoesNotContain(File.ReadAllText("/proc/self/mountinfo").Split('\n'), l => l.Contains(sandbox.Id, StringComparison.Ordinal));
        // Idempotent.
        await f.Backend.DestroyAsync(sandbox, CancellationToken.None);
    }

    [Fact]
    public async Task The_workspace_size_is_capped()
    {
        var sandbox = await f.Backend.CreateAsync(WasmFixture.Template() with { Workspace = new WorkspaceSpec { Size = "1Mi" } }, CancellationToken.None);
        try
        {
            var big = new MemoryStream(new byte[2 << 20]);
            var e = await Assert.ThrowsAnyAsync<Exception>(() => f.Backend.Files(sandbox).WriteAsync("big", big, 0x1A4, CancellationToken.None));
            Assert.Contains("space", e.Message, StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            await f.Backend.DestroyAsync(sandbox, CancellationToken.None);
        }
    }

    [Fact]
    public async Task A_suspended_sandbox_refuses_execs_and_files_until_resumed()
    {
        var sandbox = await f.Backend.CreateAsync(WasmFixture.Template(), CancellationToken.None);
        try
        {
            await f.Backend.SuspendAsync(sandbox, CancellationToken.None);
            Assert.Equal(SandboxState.Suspended, await f.Backend.StatusAsync(sandbox, CancellationToken.None));
            var e = await Assert.ThrowsAsync<AirlockException>(() => Captured.ExecAsync(f.Backend, sandbox, new ExecSpec([Fixtures.Path("hello")])));
            Assert.Equal(AirlockException.ErrorCodes.Suspended, e.Code);
            await Assert.ThrowsAsync<AirlockException>(() => f.Backend.Files(sandbox).ListAsync(".", CancellationToken.None));

            await f.Backend.ResumeAsync(sandbox, CancellationToken.None);
            Assert.Equal(0, (await Captured.ExecAsync(f.Backend, sandbox, new ExecSpec([Fixtures.Path("hello")]))).Result.ExitCode);
        }
        finally
        {
            await f.Backend.DestroyAsync(sandbox, CancellationToken.None);
        }
    }

    [Fact]
    public async Task Suspend_holds_a_running_exec_and_destroy_kills_it()
    {
        var sandbox = await f.Backend.CreateAsync(WasmFixture.Template(), CancellationToken.None);
        var stdout = new MemoryStream();
        var run = f.Backend.ExecAsync(sandbox, new ExecSpec([Fixtures.Path("loop")]), ExecIo.Capture(stdout, new MemoryStream()), CancellationToken.None);
        await Task.Delay(200);
        await f.Backend.SuspendAsync(sandbox, CancellationToken.None);
        await Task.Delay(200);
        Assert.False(run.IsCompleted);
        await f.Backend.DestroyAsync(sandbox, CancellationToken.None);
        var result = await run.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(Guest.Protocol.KillReasons.SandboxGone, result.KilledReason);
    }

    [Fact]
    public async Task Orphans_of_a_dead_owner_are_reaped_and_persistent_sandboxes_kept()
    {
        var persistent = await f.Backend.CreateAsync(WasmFixture.Template(), CancellationToken.None);
        // An ephemeral sandbox whose owner died: pid 1's start time never matches a made-up value.
        var store = new SandboxStore(new AirlockPaths(Path.Combine(f.Home, "wasm")));
        var orphan = new SandboxRecord(SandboxRecord.NewId(), WasmFixture.Template(), DateTimeOffset.UtcNow, true, 1, 12345);
        store.Save(orphan);

        var reaped = await f.Backend.ReapOrphansAsync(CancellationToken.None);

        Assert.Equal([orphan.Id], reaped);
        Assert.Equal(SandboxState.Running, await f.Backend.StatusAsync(persistent, CancellationToken.None));
        await f.Backend.DestroyAsync(persistent, CancellationToken.None);
    }

    [Fact]
    public void Fields_the_class_cannot_enforce_are_reported()
    {
        List<string> Check(SandboxTemplate t)
        {
            var errors = new List<string>();
            f.Backend.CheckEnforceable(t, (field, _) => errors.Add(field));
            return errors;
        }

        var ok = WasmFixture.Template();
        Assert.Empty(Check(ok));
        Assert.Empty(Check(ok with { Isolation = new IsolationSpec { Class = IsolationClasses.Wasm } }));
        Assert.Equal(["isolation.runtime"], Check(ok with { Isolation = new IsolationSpec { Class = IsolationClasses.Wasm, Runtime = OciRuntimes.Runsc } }));
        Assert.Equal(["isolation.userNamespace"], Check(ok with { Isolation = ok.Isolation with { UserNamespace = UserNamespaceModes.Required } }));
        Assert.Equal(["network.mode"], Check(ok with { Network = new NetworkSpec { Mode = NetworkModes.Egress } }));
        Assert.Equal(["rootFs.hostPaths"], Check(ok with { RootFs = new RootFsSpec { HostPaths = ["/usr", "/opt"] } }));
        Assert.Equal(["rootFs.hostname"], Check(ok with { RootFs = new RootFsSpec { Hostname = "box" } }));
        Assert.Equal(["resources.cpus"], Check(ok with { Resources = ok.Resources with { Cpus = 0.5 } }));
        Assert.Equal(["resources.openFiles"], Check(ok with { Resources = ok.Resources with { OpenFiles = 64 } }));
        Assert.Empty(Check(ok with { Resources = ok.Resources with { Pids = 1, Cpus = 2 } }));

        var small = f.NewBackend(new WasmOptions { MaxMemoryBytes = 32L << 20 });
        var errors = new List<string>();
        small.CheckEnforceable(ok with { Resources = ok.Resources with { Memory = "64Mi" } }, (field, _) => errors.Add(field));
        Assert.Equal(["resources.memory"], errors);
    }

    [Fact]
    public async Task A_cwd_outside_the_workspace_is_refused()
    {
        var e = await Assert.ThrowsAsync<AirlockException>(() => Captured.RunAsync(f.Backend, WasmFixture.Template(), new ExecSpec([Fixtures.Path("hello")], Cwd: "/tmp")));
        Assert.Equal(AirlockException.ErrorCodes.InvalidArgument, e.Code);
    }
}
