using System.Text.Json;
using System.Text.RegularExpressions;

namespace Airlock.Cli.Tests;

/// <summary><c>airlock run</c>: exit codes, JSON, limits, input, environment and teardown.</summary>
public sealed class RunCommandTests(AirlockHome home) : IClassFixture<AirlockHome>
{
    [Fact]
    public async Task EchoPrintsToStdoutAndExitsZero()
    {
        var r = await home.RunAsync("run", "--", "echo", "hi");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("hi\n", r.Stdout);
    }

    [Fact]
    public async Task ExitCodeOfTheCommandIsPassedThrough()
    {
        var r = await home.RunAsync("run", "--", "sh", "-c", "exit 3");
        Assert.True(r.ExitCode == 3, r.ToString());
    }

    [Fact]
    public async Task CommandKilledBySignalExitsWith128PlusSignal()
    {
        var r = await home.RunAsync("run", "--", "sh", "-c", "kill -9 $$");
        Assert.True(r.ExitCode == 137, r.ToString());
    }

    [Fact]
    public async Task JsonPrintsExactlyOneObjectWithEveryField()
    {
        var r = await home.RunAsync("run", "--json", "--", "sh", "-c", "echo out; echo err >&2; exit 2");
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.DoesNotContain('\n', r.Stdout.TrimEnd('\n'));

        using var doc = JsonDocument.Parse(r.Stdout); // throws on trailing content: exactly one value
        var o = doc.RootElement;
        Assert.Equal(JsonValueKind.Object, o.ValueKind);
        var keys = o.EnumerateObject().Select(p => p.Name).ToHashSet();
        Assert.Superset(new HashSet<string> { "exitCode", "signal", "killedReason", "stdout", "stderr", "durationMs", "sandboxId" }, keys);

        Assert.Equal(2, o.GetProperty("exitCode").GetInt32());
        Assert.Equal(JsonValueKind.Null, o.GetProperty("signal").ValueKind);
        Assert.Equal(JsonValueKind.Null, o.GetProperty("killedReason").ValueKind);
        Assert.Equal("out\n", o.GetProperty("stdout").GetString());
        Assert.Equal("err\n", o.GetProperty("stderr").GetString());
        var ms = o.GetProperty("durationMs").GetInt64();
        Assert.InRange(ms, 0, (long)r.Elapsed.TotalMilliseconds);
        Assert.Matches("^sbx-[0-9a-f]{12}$", o.GetProperty("sandboxId").GetString());
        Assert.Equal("", r.Stderr);
    }

    [Fact]
    public async Task TimeoutKillsTheCommandAndSaysSo()
    {
        var r = await home.RunAsync("run", "--timeout", "1s", "--", "sleep", "30");
        Assert.True(r.ExitCode == 137, r.ToString());
        Assert.Contains("timeout", r.Stderr);
        Assert.True(r.Elapsed < TimeSpan.FromSeconds(15), r.ToString());
    }

    [Fact]
    public async Task TimeoutIsTheKilledReasonInJson()
    {
        var r = await home.RunAsync("run", "--json", "--timeout", "1s", "--", "sleep", "30");
        Assert.True(r.ExitCode == 137, r.ToString());
        var o = JsonDocument.Parse(r.Stdout).RootElement;
        Assert.Equal("timeout", o.GetProperty("killedReason").GetString());
        Assert.Equal(137, o.GetProperty("exitCode").GetInt32());
        Assert.InRange(o.GetProperty("durationMs").GetInt64(), 900, 15_000);
    }

    [Fact]
    public async Task OutputLimitTruncatesAndKills()
    {
        var r = await home.RunAsync("run", "--output-limit", "100", "--json", "--", "yes");
        var o = JsonDocument.Parse(r.Stdout).RootElement;
        Assert.Equal(100, o.GetProperty("stdout").GetString()!.Length);
        Assert.Equal("output-limit", o.GetProperty("killedReason").GetString());
        Assert.True(o.GetProperty("truncated").GetBoolean());
        Assert.NotEqual(0, r.ExitCode);
    }

    [Fact]
    public async Task MemoryLimitKillsAHogWithReasonMemory()
    {
        var r = await home.RunAsync("run", "--memory", "64Mi", "--json", "--", "python3", "-c", "b=[]\nwhile True: b.append(bytearray(8<<20))");
        var o = JsonDocument.Parse(r.Stdout).RootElement;
        Assert.True(o.GetProperty("killedReason").GetString() == "memory", r.ToString());
        Assert.Equal(137, r.ExitCode);
    }

    [Fact]
    public async Task PythonOptionRunsCode()
    {
        var r = await home.RunAsync("run", "--python", "print(6*7)");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("42\n", r.Stdout);
    }

    [Fact]
    public async Task PythonFileOptionRunsTheFile()
    {
        var file = Path.Combine(home.Path, "script.py");
        await File.WriteAllTextAsync(file, "import sys\nprint('from file', sys.argv[0])\n");
        var r = await home.RunAsync("run", "--python-file", file);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("from file -c\n", r.Stdout);
    }

    [Fact]
    public async Task PythonFileThatDoesNotExistIsAUsageError()
    {
        var r = await home.RunAsync("run", "--python-file", Path.Combine(home.Path, "nope.py"));
        Assert.Equal(125, r.ExitCode);
        Assert.Contains("nope.py", r.Stderr);
        Assert.Contains("  remedy: ", r.Stderr);
    }

    [Fact]
    public async Task StdinIsForwardedToTheCommand()
    {
        var r = await home.RunAsync(["run", "--", "cat"], stdin: "data\n");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("data\n", r.Stdout);
    }

    [Fact]
    public async Task LargeStdinIsForwardedCompletely()
    {
        var input = string.Concat(Enumerable.Repeat("0123456789abcdef", 1 << 16)); // 1 MiB
        var r = await home.RunAsync(["run", "--", "wc", "-c"], stdin: input);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal((1 << 20).ToString(), r.Stdout.Trim());
    }

    /// <summary>A caller (an agent harness, a CI step) often leaves stdin open. The command here never reads it.</summary>
    [Fact]
    public async Task CommandThatExitsEndsTheRunEvenWhileStdinStaysOpen()
    {
        var r = await home.RunAsync(["run", "--", "echo", "hi"], closeStdinAfter: TimeSpan.FromSeconds(20));
        Assert.Equal("hi\n", r.Stdout);
        Assert.True(r.Elapsed < TimeSpan.FromSeconds(10),
            $"airlock only exited when its stdin was closed, {r.Elapsed.TotalSeconds:F1}s later, long after `echo` had exited\n{r}");
    }

    [Theory]
    [InlineData("crun")]
    [InlineData("runc")]
    [InlineData("runsc")]
    public async Task EveryRuntimeRunsACommand(string runtime)
    {
        var r = await home.RunAsync("run", "--runtime", runtime, "--", "sh", "-c", "echo ok; exit 0");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("ok\n", r.Stdout);
    }

    [Fact]
    public async Task EnvOptionIsVisibleInside()
    {
        var r = await home.RunAsync("run", "--env", "FOO=bar", "--", "sh", "-c", "echo $FOO");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("bar\n", r.Stdout);
    }

    [Fact]
    public async Task HostEnvironmentDoesNotLeakIn()
    {
        var r = await home.RunAsync(["run", "--", "env"], env: new Dictionary<string, string> { ["SECRET_TOKEN"] = "x" });
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("PATH=", r.Stdout); // env really ran
        Assert.DoesNotContain("SECRET_TOKEN", r.Stdout);
        Assert.DoesNotContain("AIRLOCK_HOME", r.Stdout);
    }

    [Fact]
    public async Task RunLeavesNoSandboxDirectoryOrMountBehind()
    {
        var r = await home.RunAsync("run", "--", "sh", "-c", "echo x > /workspace/f; cat /workspace/f");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Empty(home.SandboxDirs());
        Assert.Empty(home.Mounts());
    }

    [Fact]
    public async Task KilledRunLeavesNoSandboxDirectoryOrMountBehind()
    {
        var r = await home.RunAsync("run", "--timeout", "1s", "--", "sleep", "30");
        Assert.Equal(137, r.ExitCode);
        Assert.Empty(home.SandboxDirs());
        Assert.Empty(home.Mounts());
    }

    /// <summary>Airlock creates <c>airlock-&lt;hash&gt;/&lt;id&gt;</c> cgroups; after teardown none may remain, in any
    /// hierarchy (on cgroup v1 the runtime also creates it in blkio, cpuset, devices, ...).</summary>
    [Fact]
    public async Task RunLeavesNoSandboxCgroupBehind()
    {
        var r = await home.RunAsync("run", "--json", "--", "true");
        Assert.True(r.ExitCode == 0, r.ToString());
        var id = JsonDocument.Parse(r.Stdout).RootElement.GetProperty("sandboxId").GetString()!;
        var left = home.SandboxCgroups().Where(d => Path.GetFileName(d) == id).ToArray();
        Assert.True(left.Length == 0, $"cgroups of {id} left after the run:\n{string.Join('\n', left)}");
    }

    [Fact]
    public async Task SandboxIdsAreUniquePerRun()
    {
        var a = JsonDocument.Parse((await home.RunAsync("run", "--json", "--", "true")).Stdout).RootElement.GetProperty("sandboxId").GetString();
        var b = JsonDocument.Parse((await home.RunAsync("run", "--json", "--", "true")).Stdout).RootElement.GetProperty("sandboxId").GetString();
        Assert.Matches(new Regex("^sbx-[0-9a-f]{12}$"), a);
        Assert.NotEqual(a, b);
    }
}
