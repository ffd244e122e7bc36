using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Airlock.Guest.Protocol;

namespace Airlock.Guest.Tests;

public sealed class ExecTests(GuestFixture guest) : IClassFixture<GuestFixture>
{
    private static readonly string[] BaseEnv = ["PATH=/usr/local/bin:/usr/bin:/bin"];

    private sealed record Run(ExecResult Result, string Stdout, string Stderr, long StdoutBytes);

    private async Task<Run> ExecAsync(string[] argv, long timeoutMs = 0, long outputLimit = 0, string[]? env = null,
        Stream? stdin = null, string cwd = "", CancellationToken ct = default)
    {
        var stdout = new MemoryStream();
        var stderr = new MemoryStream();
        var request = new ExecRequest(argv, env ?? BaseEnv, cwd, timeoutMs, outputLimit, false);
        var result = await guest.WithConnectionAsync(s => GuestClient.ExecAsync(s, s, request, stdin,
            (b, _) => { stdout.Write(b.Span); return ValueTask.CompletedTask; },
            (b, _) => { stderr.Write(b.Span); return ValueTask.CompletedTask; }, ct));
        return new Run(result, Encoding.UTF8.GetString(stdout.ToArray()), Encoding.UTF8.GetString(stderr.ToArray()), stdout.Length);
    }

    [Fact]
    public async Task Echo_separates_stdout_and_stderr()
    {
        var run = await ExecAsync(["sh", "-c", "echo out; echo err >&2"]);
        Assert.Equal("out\n", run.Stdout);
        Assert.Equal("err\n", run.Stderr);
        Assert.Equal(0, run.Result.ExitCode);
        Assert.Null(run.Result.Signal);
        Assert.Null(run.Result.KilledReason);
        Assert.Equal(4, run.Result.StdoutBytes);
        Assert.Equal(4, run.Result.StderrBytes);
    }

    [Fact]
    public async Task Exit_code_is_reported()
    {
        var run = await ExecAsync(["sh", "-c", "exit 3"]);
        Assert.Equal(3, run.Result.ExitCode);
        Assert.Null(run.Result.Signal);
    }

    [Fact]
    public async Task Killed_by_signal_reports_128_plus_signal()
    {
        var run = await ExecAsync(["sh", "-c", "kill -9 $$"]);
        Assert.Equal(9, run.Result.Signal);
        Assert.Equal(137, run.Result.ExitCode);
        Assert.Null(run.Result.KilledReason);
    }

    [Fact]
    public async Task Timeout_kills_the_process_group()
    {
        var clock = Stopwatch.StartNew();
        var run = await ExecAsync(["sleep", "30"], timeoutMs: 300);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.Equal(KillReasons.Timeout, run.Result.KilledReason);
        Assert.Equal(9, run.Result.Signal);
        Assert.True(run.Result.DurationMs >= 300, $"duration {run.Result.DurationMs}");
    }

    [Fact]
    public async Task Output_cap_delivers_exactly_the_cap_then_kills()
    {
        var clock = Stopwatch.StartNew();
        var run = await ExecAsync(["sh", "-c", "yes | head -c 10000000; sleep 30"], timeoutMs: 20_000, outputLimit: 1000);
        Assert.Equal(1000, run.StdoutBytes);
        Assert.Equal(1000, run.Result.StdoutBytes + run.Result.StderrBytes);
        Assert.Equal(KillReasons.OutputLimit, run.Result.KilledReason);
        Assert.True(run.Result.Truncated);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task Output_is_streamed_before_the_process_exits()
    {
        var firstChunk = new TaskCompletionSource<TimeSpan>();
        var clock = Stopwatch.StartNew();
        var request = new ExecRequest(["sh", "-c", "echo early; sleep 1; echo late"], BaseEnv, "", 0, 0, false);
        var result = await guest.WithConnectionAsync(s => GuestClient.ExecAsync(s, s, request, null,
            (_, _) => { firstChunk.TrySetResult(clock.Elapsed); return ValueTask.CompletedTask; },
            (_, _) => ValueTask.CompletedTask, CancellationToken.None));
        Assert.Equal(0, result.ExitCode);
        var first = await firstChunk.Task;
        Assert.True(first < TimeSpan.FromMilliseconds(800), $"first output after {first}");
    }

    [Fact]
    public async Task Stdin_is_forwarded()
    {
        var input = new MemoryStream(Encoding.UTF8.GetBytes("hello through stdin\n"));
        var run = await ExecAsync(["cat"], stdin: input, timeoutMs: 10_000);
        Assert.Equal("hello through stdin\n", run.Stdout);
        Assert.Equal(0, run.Result.ExitCode);
    }

    [Fact]
    public async Task Stdin_is_dev_null_when_not_requested()
    {
        var run = await ExecAsync(["cat"], timeoutMs: 10_000);
        Assert.Equal("", run.Stdout);
        Assert.Equal(0, run.Result.ExitCode);
        Assert.Null(run.Result.KilledReason);
    }

    [Fact]
    public async Task Environment_is_exactly_the_request()
    {
        var run = await ExecAsync(["env"], env: ["FOO=bar", "EMPTY="]);
        Assert.Equal("FOO=bar\nEMPTY=\n", run.Stdout);
    }

    [Fact]
    public async Task Cwd_is_applied()
    {
        Directory.CreateDirectory(Path.Combine(guest.Workspace, "sub"));
        var run = await ExecAsync(["pwd"], cwd: Path.Combine(guest.Workspace, "sub"));
        Assert.Equal(Path.Combine(guest.Workspace, "sub") + "\n", run.Stdout);
        var dflt = await ExecAsync(["pwd"]);
        Assert.Equal(guest.Workspace + "\n", dflt.Stdout);
    }

    [Fact]
    public async Task Signals_are_not_inherited_as_ignored()
    {
        // The .NET runtime ignores SIGPIPE; a child must get the default action back (yes dies of SIGPIPE).
        var run = await ExecAsync(["grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"]);
        Assert.Contains("SigBlk:\t0000000000000000", run.Stdout);
        // Only the classic signals: glibc's posix_spawn itself sets its internal real-time signals (32, 33) to
        // SIG_IGN in every child, which no program can observe through the public SIGRTMIN range.
        var ignored = Convert.ToUInt64(run.Stdout.Split('\n').Single(l => l.StartsWith("SigIgn:"))[7..].Trim(), 16);
        Assert.Equal(0UL, ignored & 0x7FFF_FFFF); // signals 1..31
    }

    [Fact]
    public async Task Double_forked_daemon_neither_blocks_nor_leaves_zombies()
    {
        var clock = Stopwatch.StartNew();
        var run = await ExecAsync(["sh", "-c", "(sleep 60 &) ; echo done"], timeoutMs: 20_000);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"took {clock.Elapsed}");
        Assert.Equal("done\n", run.Stdout);
        Assert.Equal(0, run.Result.ExitCode);
        Assert.Null(run.Result.KilledReason);

        // The daemon is re-parented to the guest (a subreaper); its intermediate parent must have been reaped.
        await Task.Delay(300);
        var children = ProcessTable.ChildrenOf(guest.Pid);
        Assert.DoesNotContain(children, c => c.State == 'Z');
        Assert.Contains(children, c => c.Command == "sleep");
    }

    [Fact]
    public async Task Spawn_failure_is_reported()
    {
        var e = await Assert.ThrowsAsync<GuestErrorException>(() => ExecAsync(["no-such-program-xyz"]));
        Assert.Equal(ErrorCodes.SpawnFailed, e.Code);
        Assert.Contains("cannot run \"no-such-program-xyz\"", e.Message);
        Assert.Contains("No such file or directory", e.Message);

        var bad = await Assert.ThrowsAsync<GuestErrorException>(() => ExecAsync(["/bin/true"], cwd: "/no/such/dir"));
        Assert.Equal(ErrorCodes.SpawnFailed, bad.Code);
        Assert.Contains("/no/such/dir", bad.Message);
    }

    [Fact]
    public async Task Cancellation_kills_the_exec()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        const string marker = "37.25"; // a sleep length no other test uses
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ExecAsync(["sleep", marker], ct: cts.Token));
        await WaitUntilAsync(() => !ProcessTable.ChildrenOf(guest.Pid).Any(c => c.Command == "sleep" && c.Args.Contains(marker)));
    }

    [Fact]
    public async Task Dropped_connection_kills_the_exec()
    {
        const string marker = "38.5";
        using (var socket = await GuestClient.ConnectAsync(guest.SocketPath, CancellationToken.None))
        {
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            await new FrameStream(stream).WriteJsonAsync(FrameType.Exec, new ExecRequest(["sleep", marker], BaseEnv, "", 0, 0, false));
            await WaitUntilAsync(() => ProcessTable.ChildrenOf(guest.Pid).Any(c => c.Args.Contains(marker)));
        }
        await WaitUntilAsync(() => !ProcessTable.ChildrenOf(guest.Pid).Any(c => c.Args.Contains(marker) && c.State != 'Z'));
    }

    [Fact]
    public async Task Large_stdin_and_stdout_stream_through()
    {
        var input = new byte[3 * 1024 * 1024 + 17];
        Random.Shared.NextBytes(input);
        var echoed = await ExecAsync(["cat"], stdin: new MemoryStream(input), timeoutMs: 20_000);
        Assert.Equal(input.Length, echoed.StdoutBytes);
        Assert.Equal(input.Length, echoed.Result.StdoutBytes);

        var big = await ExecAsync(["head", "-c", "10000000", "/dev/zero"], timeoutMs: 20_000);
        Assert.Equal(10_000_000, big.StdoutBytes);
        Assert.False(big.Result.Truncated);
    }

    [Fact]
    public async Task Ping_answers_with_guest_info()
    {
        var info = await guest.WithConnectionAsync(s => GuestClient.PingAsync(s, s, CancellationToken.None));
        Assert.Equal(Wire.Version, info.ProtocolVersion);
        Assert.Equal(guest.Pid, info.Pid);
        Assert.Equal(guest.Workspace, info.Workspace);
    }

    [Fact]
    public async Task Concurrent_execs_are_served_in_parallel()
    {
        var clock = Stopwatch.StartNew();
        var runs = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => ExecAsync(["sh", "-c", $"sleep 0.5; echo {i}"])));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"took {clock.Elapsed}");
        for (var i = 0; i < runs.Length; i++)
        {
            Assert.Equal($"{i}\n", runs[i].Stdout);
        }
    }

    [Fact]
    public async Task Malformed_first_frame_gets_a_protocol_error_and_the_guest_survives()
    {
        var e = await Assert.ThrowsAsync<GuestErrorException>(() => guest.WithConnectionAsync(async s =>
        {
            var fs = new FrameStream(s);
            await fs.WriteAsync(FrameType.Exec, Encoding.UTF8.GetBytes("{not json"));
            var frame = await fs.ReadAsync();
            return frame!.Value.Type == FrameType.Error ? throw new GuestErrorException(frame.Value.Json<ErrorInfo>()) : 0;
        }));
        Assert.Equal(ErrorCodes.Protocol, e.Code);

        var wrongVersion = await guest.WithConnectionAsync(async s =>
        {
            await s.WriteAsync(new byte[] { 0, 0, 0, 0, 99, (byte)FrameType.Ping });
            return await new FrameStream(s).ReadAsync();
        });
        Assert.Equal(FrameType.Error, wrongVersion!.Value.Type);

        var info = await guest.WithConnectionAsync(s => GuestClient.PingAsync(s, s, CancellationToken.None));
        Assert.Equal(guest.Pid, info.Pid);
    }

    internal static async Task WaitUntilAsync(Func<bool> condition, int timeoutMs = 5000)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.ElapsedMilliseconds < timeoutMs, "condition not reached in time");
            await Task.Delay(50);
        }
    }
}
