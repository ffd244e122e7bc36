using System.Text.Json;

namespace Airlock.Cli.Tests;

/// <summary><c>airlock run --js</c> and <c>--class v8 --python</c> through the NativeAOT CLI and its jailed worker:
/// output, the JSON result shape, the timeout, and nothing of the host.</summary>
public sealed class V8RunTests(AirlockHome home) : IClassFixture<AirlockHome>
{
    [Fact]
    public async Task JavaScriptRunsWithNoHostObjects()
    {
        var r = await home.RunAsync("run", "--js",
            "console.log(1 + 1, typeof require, typeof process, typeof fetch, typeof host, typeof xHost); console.error('to stderr')");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("2 undefined undefined undefined undefined undefined\n", r.Stdout);
        Assert.Equal("to stderr\n", r.Stderr);
    }

    [Fact]
    public async Task AnInfiniteLoopIsStoppedAndReportedLikeEveryClass()
    {
        var r = await home.RunAsync("run", "--json", "--timeout", "1s", "--js", "while (true) {}");
        Assert.True(r.ExitCode == 137, r.ToString());
        var o = JsonDocument.Parse(r.Stdout).RootElement;
        Assert.Equal("timeout", o.GetProperty("killedReason").GetString());
        Assert.Matches("^sbx-[0-9a-f]{12}$", o.GetProperty("sandboxId").GetString());
    }

    [Fact]
    public async Task AnUncaughtExceptionExitsOne()
    {
        var r = await home.RunAsync("run", "--js", "throw new Error('boom')");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("boom", r.Stderr);
    }

    [Fact]
    public async Task PythonRunsInPyodideAndReachesNoHostFile()
    {
        var r = await home.RunAsync(["run", "--class", "v8", "--python",
            "import sys\nprint('py', sys.platform)\ntry:\n    open('/etc/passwd').read(); print('READ')\nexcept OSError as e:\n    print('denied')"],
            timeout: TimeSpan.FromSeconds(120));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("py emscripten\ndenied\n", r.Stdout);
    }

    [Fact]
    public async Task JsOutsideTheV8ClassIsRefused()
    {
        var r = await home.RunAsync("run", "--class", "oci", "--js", "1");
        Assert.Equal(125, r.ExitCode);
        Assert.Contains("--js", r.Stderr);
    }
}
