using Airlock.Core.Validation;
using Airlock.Mcp.Server;

namespace Airlock.Mcp.Tests;

public sealed class ConfigTests
{
    [Fact]
    public void Yaml_config_is_read_with_defaults_and_bindings()
    {
        var c = McpServerConfig.Parse("""
            allowTemplates: [python, shell]
            languages: { javascript: shell }
            maxSandboxes: 2
            maxLifetime: 10m
            maxOutputBytes: 64Ki
            """, "mcp.yaml", "/tmp");
        Assert.Equal(["python", "shell"], c.AllowedTemplates);
        Assert.Equal(new LanguageBinding("shell", ["node", "-e"]) with { Argv = c.Languages["javascript"].Argv }, c.Languages["javascript"]);
        Assert.Equal(["node", "-e"], c.Languages["javascript"].Argv);
        Assert.Equal("python", c.LanguageOrThrow("python").Template);
        Assert.Equal(2, c.MaxSandboxes);
        Assert.Equal(TimeSpan.FromMinutes(10), c.MaxLifetime);
        Assert.Equal(64 * 1024, c.MaxOutputBytes);
    }

    [Fact]
    public void Every_bad_field_is_named_at_once()
    {
        var e = Assert.Throws<ValidationException>(() => McpServerConfig.Parse("""
            allowTemplates: [Python]
            maxSandboxes: 0
            maxTimeout: soon
            langauges: {}
            """, "mcp.yaml", "/tmp"));
        var fields = e.Errors.Select(x => x.Field).ToList();
        Assert.Contains("allowTemplates[0]", fields);
        Assert.Contains("maxSandboxes", fields);
        Assert.Contains("maxTimeout", fields);
        Assert.Contains("langauges", fields);
    }

    [Fact]
    public void Refusals_name_the_rule_and_what_is_allowed()
    {
        var c = new McpServerConfig().With(["python"], []);
        var t = Assert.Throws<McpToolException>(() => c.TemplateOrThrow("shell"));
        Assert.Equal("mcp:allow-template", t.Rule);
        Assert.Contains("(allowed: python)", t.Message, StringComparison.Ordinal);
        var l = Assert.Throws<McpToolException>(() => c.LanguageOrThrow("shell"));
        Assert.Contains("template 'shell', which this server does not allow", l.Message, StringComparison.Ordinal);
        var js = Assert.Throws<McpToolException>(() => c.LanguageOrThrow("javascript"));
        Assert.Contains("template 'v8', which this server does not allow", js.Message, StringComparison.Ordinal);
        Assert.Throws<ValidationException>(() => c.With([], ["ruby=shell"]));
    }

    [Fact]
    public void Digest_is_independent_of_key_order()
    {
        Assert.Equal(
            AirlockTools.Digest(new() { ["a"] = 1, ["b"] = "x" }),
            AirlockTools.Digest(new() { ["b"] = "x", ["a"] = 1 }));
        Assert.NotEqual(AirlockTools.Digest(new() { ["a"] = 1 }), AirlockTools.Digest(new() { ["a"] = 2 }));
    }
}
