using System.Diagnostics;
using System.Text;
using Airlock.Core.Backends;
using Airlock.Core.Model;
using Airlock.Core.Storage;
using Airlock.Guest.Protocol;

namespace Airlock.Backends.Wasm.Tests;

/// <summary>A private state directory per test class, and the C fixtures compiled to wasm by
/// scripts/wasm-fixtures.sh (run once per test run; it rebuilds only stale modules).</summary>
public sealed class WasmFixture : IDisposable
{
    private readonly List<WasmBackend> _backends = [];

    public WasmFixture()
    {
        Fixtures.EnsureBuilt();
        Home = Directory.CreateTempSubdirectory("airlock-wasm-test-").FullName;
        Paths = new AirlockPaths(Home);
        Backend = NewBackend();
    }

    public string Home { get; }
    public AirlockPaths Paths { get; }
    public WasmBackend Backend { get; }

    public WasmBackend NewBackend(WasmOptions? options = null)
    {
        var backend = new WasmBackend(Paths, options);
        _backends.Add(backend);
        return backend;
    }

    public static SandboxTemplate Template(Func<ResourceSpec, ResourceSpec>? limits = null, string access = WorkspaceAccessModes.ReadWrite)
    {
        var resources = new ResourceSpec { Memory = "64Mi", Timeout = "20s", OutputLimit = "1Mi" };
        return new SandboxTemplate
        {
            Name = "wasm-test",
            Isolation = new IsolationSpec { Class = IsolationClasses.Wasm, Runtime = WasmBackend.Runtime },
            Resources = limits is null ? resources : limits(resources),
            Workspace = new WorkspaceSpec { Size = "16Mi", Access = access },
        };
    }

    public void Dispose()
    {
        foreach (var b in _backends)
        {
            b.Dispose();
        }
        // Sandboxes unmount their own workspaces; a leftover mount would make this throw, failing loudly.
        Directory.Delete(Home, recursive: true);
    }
}

public static class Fixtures
{
    private static readonly Lazy<string> Dir = new(Build);

    public static string Path(string name) => System.IO.Path.Combine(Dir.Value, name + ".wasm");

    public static void EnsureBuilt() => _ = Dir.Value;

    private static string Build()
    {
        var root = RepoRoot();
        var out_ = System.IO.Path.Combine(root, "artifacts", "wasm-fixtures");
        var psi = new ProcessStartInfo("bash", [System.IO.Path.Combine(root, "scripts", "wasm-fixtures.sh"), out_])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"scripts/wasm-fixtures.sh failed ({p.ExitCode}); apt-get install clang lld wasi-libc libclang-rt-dev-wasm32:\n{stderr}");
        }
        return out_;
    }

    private static string RepoRoot()
    {
        for (var dir = AppContext.BaseDirectory; dir is not null; dir = System.IO.Path.GetDirectoryName(dir))
        {
            if (File.Exists(System.IO.Path.Combine(dir, "Airlock.sln")))
            {
                return dir;
            }
        }
        throw new InvalidOperationException("repository root (Airlock.sln) not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>One exec's captured output and result.</summary>
public sealed record Captured(WasmExecResult Detail, string Stdout, string Stderr)
{
    public ExecResult Result => Detail.Result;

    public static async Task<Captured> RunAsync(WasmBackend backend, SandboxTemplate template, ExecSpec spec, Stream? stdin = null)
    {
        var (stdout, stderr) = (new MemoryStream(), new MemoryStream());
        var (_, detail) = await backend.RunDetailedAsync(template, spec, ExecIo.Capture(stdout, stderr, stdin), CancellationToken.None);
        return new Captured(detail, Encoding.UTF8.GetString(stdout.ToArray()), Encoding.UTF8.GetString(stderr.ToArray()));
    }

    public static async Task<Captured> ExecAsync(WasmBackend backend, SandboxRecord sandbox, ExecSpec spec)
    {
        var (stdout, stderr) = (new MemoryStream(), new MemoryStream());
        var detail = await backend.ExecDetailedAsync(sandbox, spec, ExecIo.Capture(stdout, stderr), CancellationToken.None);
        return new Captured(detail, Encoding.UTF8.GetString(stdout.ToArray()), Encoding.UTF8.GetString(stderr.ToArray()));
    }
}
