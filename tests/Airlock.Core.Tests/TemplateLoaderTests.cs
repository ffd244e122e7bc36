using Airlock.Core.Model;
using Airlock.Core.Templates;
using Airlock.Core.Validation;

namespace Airlock.Core.Tests;

public class TemplateLoaderTests
{
    [Fact]
    public void YamlAndJsonGiveTheSameTemplate()
    {
        var yaml = TemplateLoader.Parse("""
            name: data
            isolation: {class: oci, runtime: runsc}
            command: [python3, -u]
            resources:
              memory: 1Gi
              cpus: 0.5
              pids: 64
            env:
              MODE: "fast"
            """);
        var json = TemplateLoader.Parse("""
            {"name":"data","isolation":{"class":"oci","runtime":"runsc"},"command":["python3","-u"],
             "resources":{"memory":"1Gi","cpus":0.5,"pids":64},"env":{"MODE":"fast"}}
            """);
        Assert.Equal(TemplateLoader.ToJson(yaml), TemplateLoader.ToJson(json));
        Assert.Equal(OciRuntimes.Runsc, yaml.Isolation.Runtime);
        Assert.Equal(0.5, yaml.Resources.Cpus);
        Assert.Equal("fast", yaml.Env["MODE"]);
        // Unset fields keep the strict defaults.
        Assert.Equal(NetworkModes.None, yaml.Network.Mode);
        Assert.Equal("64Mi", yaml.Resources.Disk);
    }

    [Fact]
    public void RoundTripsThroughJson()
    {
        var json = TemplateLoader.ToJson(BuiltinTemplates.Python);
        Assert.Equal(json, TemplateLoader.ToJson(TemplateLoader.Parse(json)));
    }

    [Fact]
    public void UnknownFieldIsNamed()
    {
        var e = Assert.Throws<ValidationException>(() => TemplateLoader.Parse("name: x\nresources: {memroy: 1Gi}"));
        Assert.Equal("resources.memroy", Assert.Single(e.Errors).Field);
        Assert.Equal("unknown field", e.Errors[0].Reason);
    }

    [Fact]
    public void WrongTypeIsNamed()
    {
        var e = Assert.Throws<ValidationException>(() => TemplateLoader.Parse("name: x\nresources: {pids: many}"));
        Assert.Equal("resources.pids", Assert.Single(e.Errors).Field);
    }

    [Fact]
    public void SyntaxErrorNamesTheLine()
    {
        var e = Assert.Throws<ValidationException>(() => TemplateLoader.Parse("name: x\nresources: {memory: [1\n"));
        Assert.Contains("line", Assert.Single(e.Errors).Field);
    }

    [Fact]
    public void MissingTemplateSaysWhatExists()
    {
        var e = Assert.Throws<AirlockException>(() => TemplateLoader.Load("no-such-template"));
        Assert.Contains("shell", e.Remedy);
    }

    [Fact]
    public void LoadsFromFile()
    {
        var path = Path.Combine(Path.GetTempPath(), $"airlock-tpl-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, "name: filetpl\ncommand: [/bin/sh]\n");
        try
        {
            Assert.Equal("filetpl", TemplateLoader.Load(path).Name);
        }
        finally
        {
            File.Delete(path);
        }
    }
}

public class TemplateEnvTests
{
    [Fact]
    public void TemplateEnvIsLaidOverTheFixedDefaults()
    {
        var t = TemplateLoader.Parse("name: x\nenv: {MODE: fast, HOME: /workspace/home}");
        Assert.Equal("fast", t.Env["MODE"]);
        Assert.Equal("/workspace/home", t.Env["HOME"]);
        Assert.Equal(SandboxTemplate.DefaultEnv["PATH"], t.Env["PATH"]);
        Assert.Equal(["HOME", "LANG", "MODE", "PATH", "TMPDIR"], t.Env.Keys.Order(StringComparer.Ordinal));
    }
}
