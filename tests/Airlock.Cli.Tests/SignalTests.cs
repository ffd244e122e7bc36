using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Airlock.Cli.Tests;

/// <summary>A signal to the CLI ends the command, tears the sandbox down and exits with 128+signal.</summary>
public sealed partial class SignalTests(AirlockHome home) : IClassFixture<AirlockHome>
{
    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    [Theory]
    [InlineData(2, 130)]
    [InlineData(15, 143)]
    public async Task SignalTearsTheSandboxDown(int signal, int exitCode)
    {
        var psi = new ProcessStartInfo(Cli.Binary, ["run", "--", "sleep", "60"])
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment["AIRLOCK_HOME"] = home.Path;
        using var cli = Process.Start(psi)!;
        var stderr = cli.StandardError.ReadToEndAsync();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        // Wait until the sandbox exists and its command runs.
        while (home.SandboxDirs().Length == 0 || !File.Exists(Path.Combine(home.Sandboxes, home.SandboxDirs()[0], "config.json")))
        {
            Assert.True(DateTime.UtcNow < deadline, "the sandbox never appeared");
            await Task.Delay(20);
        }
        await Task.Delay(300);
        Assert.Equal(0, Kill(cli.Id, signal));
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await cli.WaitForExitAsync(wait.Token);
        Assert.Equal(exitCode, cli.ExitCode);
        Assert.Contains("torn down", await stderr);
        Assert.Empty(home.SandboxDirs());
        Assert.Empty(home.Mounts());
        Assert.Empty(home.SandboxCgroups());
    }
}
