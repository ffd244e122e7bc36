using Airlock.Core.Backends;
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
        { "name: x\nnetwork: {mode: egress, allow: [{domain: 'Bad!'}]}", "network.allow[0].domain" },
        { "name: x\nnetwork: {mode: egress, allow: [{cidr: 10.0.0.0/8}], deny: [{cidr: 10.0.0.0/7}]}", "network.allow[0]" },
        { "name: x\nnetwork: {mode: egress, bandwidth: fast}", "network.bandwidth" },
        { "name: x\nnetwork: {mode: egress, resolve: [{host: a.test, port: 80, address: nowhere}]}", "network.resolve[0].address" },
        { "name: x\nnetwork: {allow: [{domain: a.test}]}", "network.allow" },
        { "name: x\nnetwork: {mode: egress, secrets: [{name: gh, domains: [a.test], fromEnv: GH}]}", "network.secrets[0].domains[0]" },
        { "name: x\nenv: {GH: x}\nnetwork: {mode: egress, allow: [{domain: a.test}], secrets: [{name: gh, env: GH, domains: [a.test], fromEnv: GH}]}", "env.GH" },
        { "name: x\nnetwork: {mode: host}", "network.mode" },
        { "name: x\nmounts: [{host: /etc, path: /data}]", "mounts[0].host" },
        { "name: x\nmounts: [{host: /root/.ssh, path: /data}]", "mounts[0].host" },
        { "name: x\nmounts: [{host: relative, path: /data}]", "mounts[0].host" },
        { "name: x\nmounts: [{host: /srv/a/../b, path: /data}]", "mounts[0].host" },
        { "name: x\nmounts: [{host: /srv/a, path: /usr/local/x}]", "mounts[0].path" },
        { "name: x\nmounts: [{host: /srv/a, path: /workspace/sub}]", "mounts[0].path" },
        { "name: x\nmounts: [{host: /srv/a, path: /data}, {host: /srv/b, path: /data/inner}]", "mounts[1].path" },
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
    public void AnEgressPolicyParsesFromYamlWithEveryField()
    {
        var t = TemplateLoader.Parse("""
            name: web
            network:
              mode: egress
              allow:
                - domain: api.github.com
                  ports: [443]
                - domain: "*.pypi.org"
                - cidr: 203.0.113.0/24
              deny: [{ domain: uploads.pypi.org }]
              bandwidth: 10Mi
              maxConnections: 16
              resolve: [{ host: api.internal.test, port: 8080, address: 127.0.0.1 }]
              terminateTls: true
              secrets:
                - { name: github, env: GITHUB_TOKEN, fromEnv: HOST_GITHUB_TOKEN, domains: [api.github.com] }
            """);
        Assert.Empty(TemplateValidator.Validate(t));
        Assert.Equal(NetworkModes.Egress, t.Network.Mode);
        Assert.Equal([443], t.Network.Allow[0].Ports!);
        Assert.Equal("203.0.113.0/24", t.Network.Allow[2].Cidr);
        Assert.Equal(new EgressPin("api.internal.test", 8080, "127.0.0.1"), t.Network.Resolve[0]);
        Assert.Equal("airlock-secret:github", t.Network.Secrets[0].Placeholder);
        Assert.True(t.Network.TerminateTls);
        var env = NetworkEnvironment.For(t.Network);
        Assert.Equal("airlock-secret:github", env["GITHUB_TOKEN"]);
        Assert.Equal("http://127.0.0.1:3128", env["http_proxy"]);
        Assert.Equal(NetworkEnvironment.CaPath, env["SSL_CERT_FILE"]);
        Assert.Empty(NetworkEnvironment.For(new NetworkSpec()));
        // Round trip through JSON (the daemon's API and its store).
        Assert.Equal(TemplateLoader.ToJson(t), TemplateLoader.ToJson(TemplateLoader.Parse(TemplateLoader.ToJson(t))));
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
