using System.Text;
using Airlock.Core.Backends;
using Airlock.Guest.Protocol;

namespace Airlock.Backends.Wasm.Tests;

public sealed class ExecTests(WasmFixture f) : IClassFixture<WasmFixture>
{
    [Fact]
    public async Task Arguments_environment_and_exit_code_are_reported()
    {
        var spec = new ExecSpec([Fixtures.Path("hello"), "7", "two words"], Env: new Dictionary<string, string> { ["GREETING"] = "hi" });
        var r = await Captured.RunAsync(f.Backend, WasmFixture.Template(), spec);

        Assert.Equal(7, r.Result.ExitCode);
        Assert.Null(r.Result.Signal);
        Assert.Null(r.Result.KilledReason);
        Assert.Null(r.Detail.Trap);
        Assert.Contains("arg1=7\n", r.Stdout);
        Assert.Contains("arg2=two words\n", r.Stdout);
        Assert.Contains("GREETING=hi\n", r.Stdout);
        Assert.Contains("HOME=/workspace\n", r.Stdout);
        Assert.Equal("to stderr\n", r.Stderr);
        Assert.Equal(Encoding.UTF8.GetByteCount(r.Stdout), r.Result.StdoutBytes);
        Assert.Equal(10, r.Result.StderrBytes);
        Assert.False(r.Result.Truncated);
    }

    [Fact]
    public async Task Exit_zero_and_nothing_from_the_host_environment()
    {
        Environment.SetEnvironmentVariable("GREETING", "from-the-host");
        try
        {
            var r = await Captured.RunAsync(f.Backend, WasmFixture.Template(), new ExecSpec([Fixtures.Path("hello")]));
            Assert.Equal(0, r.Result.ExitCode);
            Assert.Contains("GREETING=(unset)\n", r.Stdout);
        }
        finally
        {
            Environment.SetEnvironmentVariable("GREETING", null);
        }
    }

    [Fact]
    public async Task Stdin_is_passed_when_given_and_empty_otherwise()
    {
        var piped = await Captured.RunAsync(f.Backend, WasmFixture.Template(), new ExecSpec([Fixtures.Path("cat")]), new MemoryStream("input\n"u8.ToArray()));
        Assert.Equal(0, piped.Result.ExitCode);
        Assert.Equal("input\n", piped.Stdout);

        var none = await Captured.RunAsync(f.Backend, WasmFixture.Template(), new ExecSpec([Fixtures.Path("cat")]));
        Assert.Equal(0, none.Result.ExitCode);
        Assert.Equal("", none.Stdout);
    }

    [Theory]
    [InlineData("abort", "unreachable")]
    [InlineData("div", "integer-division-by-zero")]
    [InlineData("stack", "stack-overflow")]
    [InlineData("oob", "memory-out-of-bounds")]
    public async Task Traps_are_reported_with_their_kind(string kind, string trap)
    {
        var r = await Captured.RunAsync(f.Backend, WasmFixture.Template(), new ExecSpec([Fixtures.Path("trap"), kind]));
        Assert.Equal(trap, r.Detail.Trap);
        Assert.Equal(134, r.Result.ExitCode);
        Assert.Equal(6, r.Result.Signal);
        Assert.Null(r.Result.KilledReason);
        Assert.Contains($"airlock: wasm trap: {trap}", r.Stderr);
    }

    [Fact]
    public async Task A_file_that_is_not_wasm_is_a_clear_error()
    {
        var notWasm = Path.Combine(f.Home, "not.wasm");
        await File.WriteAllTextAsync(notWasm, "#!/bin/sh\necho hi\n");
        var e = await Assert.ThrowsAsync<Core.AirlockException>(() => Captured.RunAsync(f.Backend, WasmFixture.Template(), new ExecSpec([notWasm])));
        Assert.Equal(Core.AirlockException.ErrorCodes.InvalidArgument, e.Code);
        Assert.Contains("not a valid WebAssembly module", e.Message);
    }

    [Fact]
    public async Task Ephemeral_runs_leave_nothing_behind()
    {
        await Captured.RunAsync(f.Backend, WasmFixture.Template(), new ExecSpec([Fixtures.Path("hello")]));
        var sandboxes = Path.Combine(f.Home, "wasm", "sandboxes");
        Assert.Empty(Directory.Exists(sandboxes) ? Directory.GetFileSystemEntries(sandboxes) : []);
        Assert.DoesNotContain(File.ReadAllText("/proc/self/mountinfo").Split('\n'), l => l.Contains(f.Home, StringComparison.Ordinal));
    }
}
