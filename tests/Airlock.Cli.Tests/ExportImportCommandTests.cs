namespace Airlock.Cli.Tests;

public sealed class ExportImportCommandTests(AirlockHome home) : IClassFixture<AirlockHome>
{
    [Fact]
    public async Task ExportedTemplateImportsAndRuns()
    {
        var manifest = System.IO.Path.Combine(home.Path, "python.k8s.yaml");
        var template = System.IO.Path.Combine(home.Path, "python.airlock.yaml");
        Assert.Equal(0, (await home.RunAsync("export", "python", "-o", manifest)).ExitCode);
        Assert.Contains("kind: SandboxTemplate", await File.ReadAllTextAsync(manifest));
        Assert.Equal(0, (await home.RunAsync("import", manifest, "-o", template)).ExitCode);
        var run = await home.RunAsync("run", "--template", template, "--python", "print(6 * 7)");
        Assert.Equal("42\n", run.Stdout);
    }

    [Fact]
    public async Task ImportOfAnotherKindNamesTheField()
    {
        var path = System.IO.Path.Combine(home.Path, "pod.yaml");
        await File.WriteAllTextAsync(path, "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {}\n");
        var r = await home.RunAsync("import", path);
        Assert.Equal(125, r.ExitCode);
        Assert.Contains("apiVersion:", r.Stderr);
        Assert.Contains("kind:", r.Stderr);
        Assert.Contains("remedy:", r.Stderr);
    }
}
