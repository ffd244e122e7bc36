using System.Text.Json;

namespace Airlock.Cli.Tests;

/// <summary>An <see cref="AirlockHome"/> with one persistent sandbox, created once for the test class.</summary>
public sealed class SandboxHome : AirlockHome
{
    public string Id { get; private set; } = "";

    public override async Task InitializeAsync()
    {
        var r = await RunAsync("sandbox", "create");
        Assert.True(r.ExitCode == 0, r.ToString());
        Id = r.Stdout.Trim();
        Assert.Matches("^sbx-[0-9a-f]{12}$", Id);
    }
}

/// <summary><c>airlock sandbox create|exec|cp|ls|rm</c>.</summary>
public sealed class SandboxCommandTests(SandboxHome home) : IClassFixture<SandboxHome>
{
    private string Id => home.Id;

    [Fact]
    public void CreatePrintsOnlyTheId()
    {
        Assert.Matches("^sbx-[0-9a-f]{12}$", Id);
        Assert.Contains(Id, home.SandboxDirs());
    }

    [Fact]
    public async Task FilesPersistAcrossExecs()
    {
        var w = await home.RunAsync("sandbox", "exec", Id, "--", "sh", "-c", "echo hi > f");
        Assert.True(w.ExitCode == 0, w.ToString());
        var r = await home.RunAsync("sandbox", "exec", Id, "--", "cat", "f");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("hi\n", r.Stdout);
    }

    [Fact]
    public async Task ExecPassesTheExitCodeThrough()
    {
        var r = await home.RunAsync("sandbox", "exec", Id, "--", "sh", "-c", "exit 7");
        Assert.Equal(7, r.ExitCode);
    }

    [Fact]
    public async Task ExecJsonAndEnvAndCwd()
    {
        await home.RunAsync("sandbox", "exec", Id, "--", "mkdir", "-p", "sub");
        var r = await home.RunAsync("sandbox", "exec", "--json", "--env", "A=1", "--cwd", "/workspace/sub", Id, "--", "sh", "-c", "echo $A $(pwd)");
        Assert.True(r.ExitCode == 0, r.ToString());
        var o = JsonDocument.Parse(r.Stdout).RootElement;
        Assert.Equal("1 /workspace/sub\n", o.GetProperty("stdout").GetString());
        Assert.Equal(Id, o.GetProperty("sandboxId").GetString());
    }

    [Fact]
    public async Task ExecStdinIsForwarded()
    {
        var r = await home.RunAsync(["sandbox", "exec", Id, "--", "cat"], stdin: "piped");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("piped", r.Stdout);
    }

    [Fact]
    public async Task CpCopiesAHostFileIn()
    {
        var host = Path.Combine(home.Path, "host-in.txt");
        await File.WriteAllTextAsync(host, "from the host\n");
        var cp = await home.RunAsync("sandbox", "cp", host, $"{Id}:in.txt");
        Assert.True(cp.ExitCode == 0, cp.ToString());
        var r = await home.RunAsync("sandbox", "exec", Id, "--", "cat", "in.txt");
        Assert.Equal("from the host\n", r.Stdout);
    }

    [Fact]
    public async Task CpCopiesAFileOut()
    {
        await home.RunAsync("sandbox", "exec", Id, "--", "sh", "-c", "printf 'out data' > out.txt");
        var host = Path.Combine(home.Path, "host-out.txt");
        var cp = await home.RunAsync("sandbox", "cp", $"{Id}:out.txt", host);
        Assert.True(cp.ExitCode == 0, cp.ToString());
        Assert.Equal("out data", await File.ReadAllTextAsync(host));
    }

    [Fact]
    public async Task CpOutToStdout()
    {
        await home.RunAsync("sandbox", "exec", Id, "--", "sh", "-c", "printf abc > s.txt");
        var cp = await home.RunAsync("sandbox", "cp", $"{Id}:s.txt", "-");
        Assert.True(cp.ExitCode == 0, cp.ToString());
        Assert.Equal("abc", cp.Stdout);
    }

    [Fact]
    public async Task CpOutRefusesPathsEscapingTheWorkspace()
    {
        var host = Path.Combine(home.Path, "escaped");
        var r = await home.RunAsync("sandbox", "cp", $"{Id}:../../etc/passwd", host);
        Assert.True(r.ExitCode == 125, r.ToString());
        Assert.Contains("path-escape", r.Stderr);
        Assert.False(File.Exists(host) && new FileInfo(host).Length > 0, "host file received data");
    }

    [Fact]
    public async Task CpInRefusesPathsEscapingTheWorkspace()
    {
        var host = Path.Combine(home.Path, "payload.txt");
        await File.WriteAllTextAsync(host, "x");
        var r = await home.RunAsync("sandbox", "cp", host, $"{Id}:../../etc/evil");
        Assert.True(r.ExitCode == 125, r.ToString());
        Assert.Contains("path-escape", r.Stderr);
    }

    /// <summary>A failed copy out must not create or truncate the host destination.</summary>
    [Fact]
    public async Task FailedCpOutLeavesTheHostFileAlone()
    {
        var host = Path.Combine(home.Path, "precious.txt");
        await File.WriteAllTextAsync(host, "keep me");
        var r = await home.RunAsync("sandbox", "cp", $"{Id}:no-such-file", host);
        Assert.True(r.ExitCode != 0, r.ToString());
        Assert.Equal("keep me", await File.ReadAllTextAsync(host));
    }

    [Fact]
    public async Task CpNeedsExactlyOneSandboxSide()
    {
        var r = await home.RunAsync("sandbox", "cp", "a", "b");
        Assert.Equal(125, r.ExitCode);
        Assert.Contains("ID:path", r.Stderr);
        Assert.Contains("  remedy: ", r.Stderr);
    }

    [Fact]
    public async Task LsListsTheSandbox()
    {
        var r = await home.RunAsync("sandbox", "ls");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains(Id, r.Stdout);

        var json = await home.RunAsync("sandbox", "ls", "--json");
        var row = Assert.Single(JsonDocument.Parse(json.Stdout).RootElement.EnumerateArray(), e => e.GetProperty("id").GetString() == Id);
        Assert.Equal("shell", row.GetProperty("template").GetString());
        Assert.Equal("Running", row.GetProperty("state").GetString());
    }

    [Fact]
    public async Task LsOfAPathListsFiles()
    {
        await home.RunAsync("sandbox", "exec", Id, "--", "sh", "-c", "echo hi > f");
        var r = await home.RunAsync("sandbox", "ls", $"{Id}:.");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains(r.Stdout.Split('\n'), l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries) is ["file", "3", "f"]);
    }

    [Fact]
    public async Task RmDestroysEverything()
    {
        var c = await home.RunAsync("sandbox", "create");
        Assert.True(c.ExitCode == 0, c.ToString());
        var id = c.Stdout.Trim();
        Assert.Contains(id, home.SandboxDirs());
        await home.RunAsync("sandbox", "exec", id, "--", "sh", "-c", "echo x > f");

        var rm = await home.RunAsync("sandbox", "rm", id);
        Assert.True(rm.ExitCode == 0, rm.ToString());
        Assert.Equal(id + "\n", rm.Stdout);

        var exec = await home.RunAsync("sandbox", "exec", id, "--", "true");
        Assert.Equal(125, exec.ExitCode);
        Assert.Contains("does not exist", exec.Stderr);
        Assert.DoesNotContain(id, home.SandboxDirs());
        Assert.False(Directory.Exists(Path.Combine(home.Sandboxes, id)));
        Assert.DoesNotContain(home.Mounts(), m => m.Contains(id, StringComparison.Ordinal));
        var ls = await home.RunAsync("sandbox", "ls", "--json");
        Assert.DoesNotContain(id, ls.Stdout);
    }

    [Fact]
    public async Task UnknownSandboxIsAClearError()
    {
        var r = await home.RunAsync("sandbox", "exec", "sbx-000000000000", "--", "true");
        Assert.Equal(125, r.ExitCode);
        Assert.Contains("does not exist", r.StderrLines[0]);
        Assert.StartsWith("  remedy: ", r.StderrLines[^1]);
    }
}
