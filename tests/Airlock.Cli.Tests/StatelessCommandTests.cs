namespace Airlock.Cli.Tests;

/// <summary>Commands that only read templates touch no state: no state directory is created, no root is needed.</summary>
public sealed class StatelessCommandTests(AirlockHome home) : IClassFixture<AirlockHome>
{
    [Theory]
    [InlineData("template", "show", "python")]
    [InlineData("export", "shell")]
    public async Task LeavesNoStateDirectory(params string[] args)
    {
        var untouched = System.IO.Path.Combine(home.Path, "never-created");
        var r = await home.RunAsync(args, env: new Dictionary<string, string> { ["AIRLOCK_HOME"] = untouched });
        Assert.Equal(0, r.ExitCode);
        Assert.NotEmpty(r.Stdout);
        Assert.False(Directory.Exists(untouched), $"{string.Join(' ', args)} created {untouched}");
    }
}
