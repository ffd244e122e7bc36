using System.Text.Json;

namespace Airlock.Server.Tests;

/// <summary>The daemon serves the v8 class with pre-started, jailed workers: JavaScript through <c>airlock run
/// --js</c> with AIRLOCK_HOST set is a message to a waiting worker.</summary>
public sealed class V8DaemonTests
{
    [Fact]
    public async Task JavaScriptRunsThroughTheDaemonsWorkers()
    {
        await using var d = await Daemon.StartAsync();
        var token = await d.TokenAsync("acme");
        var first = await d.RunCliAsync(["run", "--json", "--js", "console.log(6 * 7, typeof require)"], token, timeout: TimeSpan.FromSeconds(90));
        Assert.True(first.ExitCode == 0, first.ToString());
        var o = JsonDocument.Parse(first.Stdout).RootElement;
        Assert.Equal("42 undefined\n", o.GetProperty("stdout").GetString());
        var loop = await d.RunCliAsync(["run", "--json", "--timeout", "1s", "--js", "for (;;) {}"], token);
        Assert.Equal("timeout", JsonDocument.Parse(loop.Stdout).RootElement.GetProperty("killedReason").GetString());
        var after = await d.RunCliAsync(["run", "--js", "console.log('still here')"], token);
        Assert.Equal((0, "still here\n"), (after.ExitCode, after.Stdout));
    }
}
