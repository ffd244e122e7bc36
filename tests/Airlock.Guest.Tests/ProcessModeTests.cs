using System.Diagnostics;
using System.Text;
using Airlock.Guest.Protocol;

namespace Airlock.Guest.Tests;

/// <summary>`stdio` and `version` modes, and shutdown of `serve` on SIGTERM.</summary>
public sealed class ProcessModeTests : IDisposable
{
    private readonly string _workspace = Directory.CreateTempSubdirectory("airlock-stdio-").FullName;

    private static Process StartGuest(params string[] args)
    {
        var psi = GuestCommand.Create(args);
        psi.RedirectStandardInput = true;
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        return Process.Start(psi)!;
    }

    private async Task<(ExecResult? Result, GuestErrorException? Error, string Stdout, int GuestExit)> StdioExecAsync(params string[] argv)
    {
        using var guest = StartGuest("stdio", "--workspace", _workspace);
        var stdout = new StringBuilder();
        ExecResult? result = null;
        GuestErrorException? error = null;
        try
        {
            result = await GuestClient.ExecAsync(guest.StandardOutput.BaseStream, guest.StandardInput.BaseStream,
                new ExecRequest(argv, ["PATH=/usr/bin:/bin"], "", 20_000, 0, false), null,
                (b, _) => { stdout.Append(Encoding.UTF8.GetString(b.Span)); return ValueTask.CompletedTask; },
                (_, _) => ValueTask.CompletedTask, CancellationToken.None);
        }
        catch (GuestErrorException e)
        {
            error = e;
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await guest.WaitForExitAsync(timeout.Token);
        return (result, error, stdout.ToString(), guest.ExitCode);
    }

    [Fact]
    public async Task Stdio_runs_one_exec_and_exits_with_its_code()
    {
        var (result, _, stdout, exit) = await StdioExecAsync("sh", "-c", "echo via-stdio; exit 7");
        Assert.Equal("via-stdio\n", stdout);
        Assert.Equal(7, result!.ExitCode);
        Assert.Equal(7, exit);
    }

    [Fact]
    public async Task Stdio_spawn_failure_exits_127()
    {
        var (_, error, _, exit) = await StdioExecAsync("definitely-not-a-program");
        Assert.Equal(ErrorCodes.SpawnFailed, error!.Code);
        Assert.Equal(127, exit);
    }

    [Fact]
    public async Task Stdio_kills_leftover_daemons_on_exit()
    {
        const string marker = "61.75";
        var (result, _, stdout, exit) = await StdioExecAsync("sh", "-c", $"(setsid sleep {marker} &) ; echo started");
        Assert.Equal("started\n", stdout);
        Assert.Equal(0, exit);
        Assert.Equal(0, result!.ExitCode);
        await ExecTests.WaitUntilAsync(() => !SleepRunning(marker));
    }

    [Fact]
    public async Task Serve_exits_0_on_SIGTERM_and_kills_running_execs()
    {
        const string marker = "62.25";
        using var guest = new GuestFixture();
        var running = guest.WithConnectionAsync(s => GuestClient.ExecAsync(s, s,
            new ExecRequest(["sleep", marker], ["PATH=/usr/bin:/bin"], "", 0, 0, false), null,
            (_, _) => ValueTask.CompletedTask, (_, _) => ValueTask.CompletedTask, CancellationToken.None));
        await ExecTests.WaitUntilAsync(() => SleepRunning(marker));

        Assert.Equal(0, guest.Stop());
        var result = await running;
        Assert.Equal(KillReasons.SandboxGone, result.KilledReason);
        Assert.Equal(9, result.Signal);
        Assert.False(SleepRunning(marker));
        Assert.False(File.Exists(guest.SocketPath));
    }

    [Fact]
    public async Task Version_prints_the_protocol_version()
    {
        using var guest = StartGuest("version");
        var output = await guest.StandardOutput.ReadToEndAsync();
        await guest.WaitForExitAsync();
        Assert.Equal($"airlock-guest protocol {Wire.Version}\n", output);
        Assert.Equal(0, guest.ExitCode);
    }

    private static bool SleepRunning(string marker) =>
        Directory.EnumerateDirectories("/proc").Any(d =>
        {
            try
            {
                return int.TryParse(Path.GetFileName(d), out _)
                    && File.ReadAllText(Path.Combine(d, "cmdline")) == $"sleep\0{marker}\0"
                    && !File.ReadAllText(Path.Combine(d, "stat")).Contains(") Z ");
            }
            catch (IOException)
            {
                return false;
            }
        });

    public void Dispose() => Directory.Delete(_workspace, recursive: true);
}
