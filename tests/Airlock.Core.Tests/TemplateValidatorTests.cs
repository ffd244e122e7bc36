using Airlock.Core.Model;
using Airlock.Core.Templates;
using Airlock.Core.Validation;

namespace Airlock.Core.Tests;

public class TemplateValidatorTests
{
    [Fact]
    public void BuiltinTemplatesAreValid()
    {
        foreach (var t in BuiltinTemplates.All)
        {
            Assert.Empty(TemplateValidator.Validate(t));
        }
    }

    public static TheoryData<string, string> InvalidFields => new()
    {
        { "name: Bad_Name", "name" },
        { "name: x\nisolation: {class: quantum}", "isolation.class" },
        { "name: x\nisolation: {runtime: docker}", "isolation.runtime" },
        { "name: x\nisolation: {userNamespace: maybe}", "isolation.userNamespace" },
        { "name: x\ncommand: []", "command" },
        { "name: x\nrootFs: {hostPaths: [/etc]}", "rootFs.hostPaths[0]" },
        { "name: x\nrootFs: {hostPaths: [/usr, /home/user]}", "rootFs.hostPaths[1]" },
        { "name: x\nrootFs: {hostPaths: [usr]}", "rootFs.hostPaths[0]" },
        { "name: x\nrootFs: {hostPaths: [/usr/../etc]}", "rootFs.hostPaths[0]" },
        { "name: x\nrootFs: {hostname: 'UPPER case'}", "rootFs.hostname" },
        { "name: x\nworkspace: {path: relative}", "workspace.path" },
        { "name: x\nworkspace: {path: /usr/work}", "workspace.path" },
        { "name: x\nworkspace: {size: lots}", "workspace.size" },
        { "name: x\nworkspace: {size: 1k}", "workspace.size" },
        { "name: x\nresources: {memory: 1k}", "resources.memory" },
        { "name: x\nresources: {memory: '12 apples'}", "resources.memory" },
        { "name: x\nresources: {cpus: 0}", "resources.cpus" },
        { "name: x\nresources: {pids: 1}", "resources.pids" },
        { "name: x\nresources: {disk: -5Mi}", "resources.disk" },
        { "name: x\nresources: {openFiles: 3}", "resources.openFiles" },
        { "name: x\nresources: {timeout: forever}", "resources.timeout" },
        { "name: x\nresources: {timeout: 48h}", "resources.timeout" },
        { "name: x\nresources: {outputLimit: 0}", "resources.outputLimit" },
        { "name: x\nenv: {'1BAD': x}", "env.1BAD" },
        { "name: x\nnetwork: {mode: egress}", "network.mode" },
        { "name: x\nnetwork: {mode: host}", "network.mode" },
    };

    [Theory]
    [MemberData(nameof(InvalidFields))]
    public void EachInvalidFieldGetsItsOwnError(string yaml, string field)
    {
        var t = TemplateLoader.Parse(yaml);
        var errors = TemplateValidator.Validate(t);
        var error = Assert.Single(errors);
        Assert.Equal(field, error.Field);
        Assert.False(string.IsNullOrWhiteSpace(error.Reason));
    }

    [Fact]
    public void EveryErrorIsReturnedAtOnce()
    {
        var t = TemplateLoader.Parse("""
            name: Nope
            resources: {memory: x, cpus: -1, pids: 0, timeout: y}
            network: {mode: host}
            """);
        var fields = TemplateValidator.Validate(t).Select(e => e.Field).ToHashSet();
        Assert.Equal(["name", "network.mode", "resources.cpus", "resources.memory", "resources.pids", "resources.timeout"], fields.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void EnsureValidThrowsWithFieldNamesInMessage()
    {
        var t = BuiltinTemplates.Shell with { Resources = new ResourceSpec { Memory = "tiny" } };
        var e = Assert.Throws<ValidationException>(() => TemplateValidator.EnsureValid(t));
        Assert.Contains("resources.memory", e.Message);
        Assert.Equal("invalid-template", e.Code);
    }
}
