using System.Text;
using Airlock.Core.Backends;

using Airlock.Core.Model;

namespace Airlock.Backends.Wasm.Tests;

public sealed class ContainmentTests(WasmFixture f) : IClassFixture<WasmFixture>
{
    [Fact]
    public async Task Cannot_open_files_outside_the_workspace()
    {
        var secret = Path.Combine(f.Home, "host-secret.txt");
        await File.WriteAllTextAsync(secret, "host secret\n");
        var sandbox = await f.Backend.CreateAsync(WasmFixture.Template(), CancellationToken.None);
        try
        {
            // A symlink planted in the workspace that points at a host file.
            var workspaceDir = Path.Combine(f.Home, "wasm", "sandboxes", sandbox.Id, "workspace");
            File.CreateSymbolicLink(Path.Combine(workspaceDir, "escape"), secret);
            File.CreateSymbolicLink(Path.Combine(workspaceDir, "etc"), "/etc");

            var r = await Captured.ExecAsync(f.Backend, sandbox, new ExecSpec([Fixtures.Path("files"),
                "/etc/passwd", secret, Fixtures.Path("files"), "/workspace/../etc/passwd", "/workspace/escape",
                "/workspace/etc/passwd", "/", "w:/workspace/out.txt", "w:/tmp/out.txt", "/workspace/out.txt"]));

            Assert.Equal(0, r.Result.ExitCode);
            Assert.Contains("read /etc/passwd denied", r.Stdout);
            Assert.Contains($"read {secret} denied", r.Stdout);
            Assert.Contains($"read {Fixtures.Path("files")} denied", r.Stdout);
            Assert.Contains("read /workspace/../etc/passwd denied", r.Stdout);
            Assert.Contains("read /workspace/escape denied", r.Stdout);
            Assert.Contains("read /workspace/etc/passwd denied", r.Stdout);
            Assert.Contains("read / denied", r.Stdout);
            Assert.Contains("write /tmp/out.txt denied", r.Stdout);
            Assert.Contains("write /workspace/out.txt ok", r.Stdout);
            Assert.Contains("read /workspace/out.txt ok written by wasm", r.Stdout);
            Assert.DoesNotContain("host secret", r.Stdout);
            Assert.DoesNotContain("root:", r.Stdout);

            // What the module wrote is in the workspace, seen through the file API.
            var read = new MemoryStream();
            await f.Backend.Files(sandbox).ReadAsync("out.txt", read, CancellationToken.None);
            Assert.Equal("written by wasm\n", Encoding.UTF8.GetString(read.ToArray()));
            // And the file API refuses the planted symlink too.
            await Assert.ThrowsAsync<Core.AirlockException>(() => f.Backend.Files(sandbox).ReadAsync("escape", new MemoryStream(), CancellationToken.None));
        }
        finally
        {
            await f.Backend.DestroyAsync(sandbox, CancellationToken.None);
        }
    }

    [Fact]
    public async Task Without_a_workspace_grant_nothing_is_visible()
    {
        var backend = f.Backend;
        var r = await Captured.RunAsync(backend, WasmFixture.Template(access: WorkspaceAccessModes.None), new ExecSpec([Fixtures.Path("files"), "/workspace", "w:/workspace/x", "/etc/passwd"]));
        Assert.Equal(0, r.Result.ExitCode);
        Assert.Contains("read /workspace denied", r.Stdout);
        Assert.Contains("write /workspace/x denied", r.Stdout);
        Assert.Contains("read /etc/passwd denied", r.Stdout);
        Assert.False(Directory.Exists(Path.Combine(f.Home, "wasm", "sandboxes")) && Directory.EnumerateFileSystemEntries(Path.Combine(f.Home, "wasm", "sandboxes")).Any());
    }

    [Fact]
    public async Task A_read_only_workspace_can_be_read_but_not_written()
    {
        var backend = f.Backend;
        var sandbox = await backend.CreateAsync(WasmFixture.Template(access: WorkspaceAccessModes.ReadOnly), CancellationToken.None);
        try
        {
            await backend.Files(sandbox).WriteAsync("in.txt", new MemoryStream("from the host\n"u8.ToArray()), 0x1A4, CancellationToken.None);
            var r = await Captured.ExecAsync(backend, sandbox, new ExecSpec([Fixtures.Path("files"), "/workspace/in.txt", "w:/workspace/in.txt", "w:/workspace/new.txt"]));
            Assert.Contains("read /workspace/in.txt ok from the host", r.Stdout);
            Assert.Contains("write /workspace/in.txt denied", r.Stdout);
            Assert.Contains("write /workspace/new.txt denied", r.Stdout);
            var list = await backend.Files(sandbox).ListAsync(".", CancellationToken.None);
            Assert.Equal(["in.txt"], list.Select(e => e.Name));
        }
        finally
        {
            await backend.DestroyAsync(sandbox, CancellationToken.None);
        }
    }

    [Fact]
    public async Task Has_no_sockets()
    {
        var r = await Captured.RunAsync(f.Backend, WasmFixture.Template(), new ExecSpec([Fixtures.Path("sockets")]));
        Assert.Contains("succeeded=0", r.Stdout);
        Assert.Equal(0, r.Result.ExitCode);
        // 16 descriptors x 4 calls, each refused.
        Assert.Equal(64, r.Stdout.Split('\n').Count(l => l.StartsWith("sock_", StringComparison.Ordinal) && !l.EndsWith(" = 0", StringComparison.Ordinal)));
    }
}
