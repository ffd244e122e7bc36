namespace Airlock.Cli.Tests;

public sealed class SuspendCommandTests(AirlockHome home) : IClassFixture<AirlockHome>
{
    [Fact]
    public async Task SuspendRefusesExecsUntilResumed()
    {
        var create = await home.RunAsync("sandbox", "create");
        Assert.Equal(0, create.ExitCode);
        var id = create.Stdout.Trim();
        try
        {
            Assert.Equal(0, (await home.RunAsync("sandbox", "suspend", id)).ExitCode);
            Assert.Contains("Suspended", (await home.RunAsync("sandbox", "ls")).Stdout);
            var refused = await home.RunAsync("sandbox", "exec", id, "--", "true");
            Assert.Equal(125, refused.ExitCode);
            Assert.Contains("is suspended", refused.Stderr);
            Assert.Contains($"remedy: resume it with: airlock sandbox resume {id}", refused.Stderr);

            Assert.Equal(0, (await home.RunAsync("sandbox", "resume", id)).ExitCode);
            var ok = await home.RunAsync("sandbox", "exec", id, "--", "echo", "back");
            Assert.Equal("back\n", ok.Stdout);
        }
        finally
        {
            await home.RunAsync("sandbox", "rm", id);
        }
        Assert.Empty(home.SandboxDirs());
    }
}
