using System.Text.Json;

namespace Airlock.Cli.Tests;

/// <summary>Bad input is refused with exit 125 before anything starts, in the format
/// <c>airlock: error: CAUSE</c> / (field lines) / <c>  remedy: ...</c>; plus <c>template</c> and <c>doctor</c>.</summary>
public sealed class ValidationAndTemplateTests(AirlockHome home) : IClassFixture<AirlockHome>
{
    /// <summary>Asserts the error format: the first line is the cause, the last the remedy, nothing on stdout.</summary>
    private static void AssertUsageError(CliResult r)
    {
        Assert.True(r.ExitCode == 125, r.ToString());
        Assert.Equal("", r.Stdout);
        var lines = r.StderrLines;
        Assert.True(lines.Length >= 2, r.ToString());
        Assert.StartsWith("airlock: error: ", lines[0]);
        Assert.Matches("^  remedy: .+", lines[^1]);
        Assert.Single(lines, l => l.StartsWith("  remedy: ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task BadMemoryNamesTheFieldAndARemedy()
    {
        var r = await home.RunAsync("run", "--memory", "lots", "--", "true");
        AssertUsageError(r);
        Assert.Contains(r.StderrLines, l => l.Contains("resources.memory") && l.Contains("lots"));
        Assert.Empty(home.SandboxDirs());
    }

    [Fact]
    public async Task UnknownRuntimeNamesIsolationRuntime()
    {
        var r = await home.RunAsync("run", "--runtime", "docker", "--", "true");
        AssertUsageError(r);
        Assert.Contains(r.StderrLines, l => l.Contains("isolation.runtime") && l.Contains("docker"));
    }

    [Fact]
    public async Task EveryInvalidFieldIsListedAtOnce()
    {
        var r = await home.RunAsync("run", "--cpus", "0", "--pids", "1", "--", "true");
        AssertUsageError(r);
        Assert.Contains(r.StderrLines, l => l.Contains("resources.cpus"));
        Assert.Contains(r.StderrLines, l => l.Contains("resources.pids"));
    }

    [Fact]
    public async Task UnknownTemplateFieldIsNamed()
    {
        var file = await WriteTemplateAsync("unknown-field.yaml", "name: custom\nresources:\n  memry: 1Gi\n");
        var r = await home.RunAsync("run", "--template", file, "--", "true");
        AssertUsageError(r);
        Assert.Contains(r.StderrLines, l => l.Contains("resources.memry"));
    }

    /// <summary>The loader intends "unknown field" (TemplateLoader matches the System.Text.Json message text), but the
    /// CLI is published with UseSystemResourceKeys, so the message is a resource key and the reason falls through to
    /// "has the wrong type", which sends the user looking for a type error in a field that is merely misspelt.</summary>
    [Fact]
    public async Task UnknownTemplateFieldIsCalledUnknownNotWrongType()
    {
        var file = await WriteTemplateAsync("unknown-top.yaml", "name: custom\nbogus: x\n");
        var r = await home.RunAsync("template", "validate", file);
        AssertUsageError(r);
        Assert.Contains(r.StderrLines, l => l.Contains("bogus") && l.Contains("unknown field"));
    }

    [Fact]
    public async Task UnknownTemplateNameIsAClearError()
    {
        var r = await home.RunAsync("run", "--template", "nope", "--", "true");
        AssertUsageError(r);
        Assert.Equal(2, r.StderrLines.Length);
        Assert.Contains("'nope'", r.StderrLines[0]);
        Assert.Contains("shell", r.StderrLines[1]);
        Assert.Contains("python", r.StderrLines[1]);
    }

    [Fact]
    public async Task RunWithoutACommandIsAClearError()
    {
        var r = await home.RunAsync("run");
        AssertUsageError(r);
        Assert.Equal(2, r.StderrLines.Length);
        Assert.Contains("no command", r.StderrLines[0]);
        Assert.Contains("airlock run --", r.StderrLines[1]);
    }

    [Fact]
    public async Task PythonAndACommandTogetherIsAnError()
    {
        var r = await home.RunAsync("run", "--python", "print(1)", "--", "echo", "x");
        AssertUsageError(r);
        Assert.Contains("--python", r.StderrLines[0]);
    }

    [Fact]
    public async Task EnvWithoutEqualsIsAnError()
    {
        var r = await home.RunAsync("run", "--env", "FOO", "--", "true");
        AssertUsageError(r);
        Assert.Contains("FOO", r.StderrLines[0]);
    }

    [Fact]
    public async Task TemplateLsListsTheBuiltins()
    {
        var r = await home.RunAsync("template", "ls");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Matches(@"\bshell\b", r.Stdout);
        Assert.Matches(@"\bpython\b", r.Stdout);
    }

    [Fact]
    public async Task TemplateShowPrintsTheTemplateAsJson()
    {
        var r = await home.RunAsync("template", "show", "python");
        Assert.True(r.ExitCode == 0, r.ToString());
        var o = JsonDocument.Parse(r.Stdout).RootElement;
        Assert.Equal("python", o.GetProperty("name").GetString());
        Assert.Contains("python3", o.GetProperty("command").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("crun", o.GetProperty("isolation").GetProperty("runtime").GetString());
    }

    [Fact]
    public async Task TemplateValidateListsEveryError()
    {
        var file = await WriteTemplateAsync("bad.yaml", "name: bad\nresources:\n  memory: lots\n  pids: 1\nisolation:\n  runtime: docker\n");
        var r = await home.RunAsync("template", "validate", file);
        AssertUsageError(r);
        Assert.Contains(r.StderrLines, l => l.Contains("resources.memory"));
        Assert.Contains(r.StderrLines, l => l.Contains("resources.pids"));
        Assert.Contains(r.StderrLines, l => l.Contains("isolation.runtime"));
    }

    [Fact]
    public async Task TemplateValidateAcceptsAGoodFile()
    {
        var file = await WriteTemplateAsync("good.yaml", "name: good\nresources:\n  memory: 128Mi\n  timeout: 5s\n");
        var r = await home.RunAsync("template", "validate", file);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("good", r.Stdout);
        Assert.Contains("valid", r.Stdout);
    }

    [Fact]
    public async Task ATemplateFileIsUsedByRun()
    {
        var file = await WriteTemplateAsync("env.yaml", "name: withenv\nenv:\n  GREETING: hello\n");
        var r = await home.RunAsync("run", "--template", file, "--", "sh", "-c", "echo $GREETING");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("hello\n", r.Stdout);
    }

    [Fact]
    public async Task DoctorReportsRuntimesAndCgroups()
    {
        var r = await home.RunAsync("doctor");
        Assert.True(r.ExitCode == 0, r.ToString());
        foreach (var word in new[] { "crun", "runc", "runsc", "cgroups", "class oci", "class wasm", "wasmtime", "class v8", "pyodide" })
        {
            Assert.Matches($@"\b{word}\b", r.Stdout);
        }
        Assert.DoesNotMatch(@"class (wasm|v8)\s*│\s*missing", r.Stdout);
    }

    private async Task<string> WriteTemplateAsync(string name, string yaml)
    {
        var file = Path.Combine(home.Path, name);
        await File.WriteAllTextAsync(file, yaml);
        return file;
    }
}
