using System.Text;
using Airlock.Core.Backends;
using Airlock.Core.Model;
using Airlock.Core.Templates;
using Airlock.Guest.Protocol;

namespace Airlock.Server.Tests;

/// <summary>The daemon serves the wasm class next to oci: a module uploaded into a sandbox's workspace runs there,
/// and a remote client cannot make the daemon load a module (or probe a file) by host path.</summary>
public sealed class WasmDaemonTests
{
    [Fact]
    public async Task AModuleFromTheWorkspaceRunsAndHostPathsAreRefused()
    {
        var module = Path.Combine(Daemon.RepoRoot, "artifacts", "wasm-fixtures", "hello.wasm");
        Assert.True(File.Exists(module), $"{module} is missing: run bash scripts/wasm-fixtures.sh");
        await using var d = await Daemon.StartAsync();
        using var c = await d.TenantAsync("acme");
        var template = BuiltinTemplates.Wasm with { Workspace = new WorkspaceSpec { Access = WorkspaceAccessModes.ReadWrite, Size = "16Mi" } };
        await c.CreateSandboxAsync("mod", template: template);
        await using (var f = File.OpenRead(module))
        {
            await c.WriteFileAsync("mod", "hello.wasm", f);
        }
        var stdout = new MemoryStream();
        var r = await c.ExecAsync("mod", new ExecSpec(["hello.wasm", "3"]), ExecIo.Capture(stdout, new MemoryStream()));
        Assert.Equal(3, r.ExitCode);
        Assert.Contains("arg1=3", Encoding.UTF8.GetString(stdout.ToArray()));

        var e = await Assert.ThrowsAnyAsync<Exception>(() => c.ExecAsync("mod", new ExecSpec([module]), ExecIo.Capture(new MemoryStream(), new MemoryStream())));
        Assert.Contains("outside the workspace", e.Message);
        await c.DeleteSandboxAsync("mod");
    }
}
