using System.Text.Json;

namespace Airlock.Cli.Tests;

/// <summary><c>airlock run --class wasm</c> through the NativeAOT CLI (Wasmtime is not annotated for trimming, so
/// these exercise the real binary): arguments and exit codes, the JSON result, limits, and no host files.</summary>
public sealed class WasmRunTests(AirlockHome home) : IClassFixture<AirlockHome>
{
    /// <summary>A fixture module built by scripts/wasm-fixtures.sh (setup runs it).</summary>
    private static string Module(string name)
    {
        var path = Path.Combine(Cli.RepoRoot, "artifacts", "wasm-fixtures", name + ".wasm");
        return File.Exists(path) ? path : throw new InvalidOperationException($"{path} is missing: run bash scripts/wasm-fixtures.sh");
    }

    [Fact]
    public async Task AModuleGetsItsArgumentsAndItsExitCodeIsPassedThrough()
    {
        var r = await home.RunAsync("run", "--class", "wasm", "--", Module("hello"), "7", "two");
        Assert.True(r.ExitCode == 7, r.ToString());
        Assert.Contains("arg1=7\narg2=two\n", r.Stdout);
        Assert.Contains("GREETING=(unset)", r.Stdout); // nothing from the host's environment
        Assert.Equal("to stderr\n", r.Stderr);
    }

    [Fact]
    public async Task JsonHasTheSameShapeAsTheOciClassAndALoopIsStopped()
    {
        var r = await home.RunAsync("run", "--class", "wasm", "--json", "--timeout", "1s", "--", Module("loop"));
        Assert.True(r.ExitCode == 137, r.ToString());
        var o = JsonDocument.Parse(r.Stdout).RootElement;
        Assert.Equal(137, o.GetProperty("exitCode").GetInt32());
        Assert.Contains(o.GetProperty("killedReason").GetString(), new[] { "timeout", "fuel" });
        Assert.InRange(o.GetProperty("durationMs").GetInt64(), 500, 10_000);
        Assert.Matches("^sbx-[0-9a-f]{12}$", o.GetProperty("sandboxId").GetString());
    }

    [Fact]
    public async Task AModuleSeesNoHostFile()
    {
        var r = await home.RunAsync("run", "--class", "wasm", "--", Module("files"), "/etc/passwd", "/", "w:/tmp/x");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(3, r.Stdout.Split('\n').Count(l => l.Contains(" denied ", StringComparison.Ordinal)));
        Assert.DoesNotContain("root:", r.Stdout);
    }

    [Fact]
    public async Task FieldsTheClassCannotEnforceAreNamed()
    {
        var r = await home.RunAsync("run", "--class", "wasm", "--allow-domain", "example.com", "--", Module("hello"));
        Assert.Equal(125, r.ExitCode);
        Assert.Contains("network.mode", r.Stderr);
    }
}
