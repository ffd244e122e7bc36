using System.Net;
using Airlock.Core.Model;
using Airlock.Core.Validation;
using Airlock.Egress.Policy;

namespace Airlock.Egress.Tests;

/// <summary>The policy engine and its validator (pure: a map resolver; nothing is contacted).</summary>
public sealed class PolicyTests
{
    private static readonly MapResolver Resolver = new(new Dictionary<string, IPAddress[]>
    {
        ["api.example.com"] = [IPAddress.Parse("93.184.216.34")],
        ["deep.api.example.com"] = [IPAddress.Parse("93.184.216.35")],
        ["rebind.example.com"] = [IPAddress.Parse("93.184.216.36"), IPAddress.Parse("169.254.169.254")],
        ["inside.example.com"] = [IPAddress.Parse("10.1.2.3")],
        ["v6.example.com"] = [IPAddress.Parse("fd00::1")],
    });

    private static Task<EgressDecision> Decide(EgressPolicy p, string host, int port) => new PolicyEngine(p, Resolver).DecideAsync(host, port, CancellationToken.None);

    [Fact]
    public async Task DomainsPortsAndDenyRules()
    {
        var p = new EgressPolicy
        {
            Allow = [new EgressRule { Domain = "api.example.com", Ports = [443] }, new EgressRule { Domain = "*.example.com" }],
            Deny = [new EgressRule { Domain = "secret.example.com" }],
        };
        var exact = await Decide(p, "API.example.com.", 443);
        Assert.Equal((true, "allow[0]"), (exact.Allowed, exact.Rule));
        Assert.Equal(IPAddress.Parse("93.184.216.34"), exact.Address!.Address);
        Assert.Equal((true, "allow[1]"), ((await Decide(p, "deep.api.example.com", 8080)).Allowed, (await Decide(p, "deep.api.example.com", 8080)).Rule));
        Assert.Equal("deny[0]", (await Decide(p, "secret.example.com", 443)).Rule);
        Assert.Equal("no-allow-rule", (await Decide(p, "example.org", 443)).Rule);
        // *.example.com covers names below it, not example.com itself.
        Assert.Equal("no-allow-rule", (await Decide(p, "example.com", 443)).Rule);
        var onlyTls = p with { Allow = [new EgressRule { Domain = "api.example.com", Ports = [443] }] };
        Assert.Equal("no-allow-rule", (await Decide(onlyTls, "api.example.com", 80)).Rule);
    }

    [Fact]
    public async Task ResolvedAddressesInDeniedRangesAreRefused()
    {
        var p = new EgressPolicy { Allow = [new EgressRule { Domain = "*.example.com" }] };
        Assert.Equal("default-deny:private", (await Decide(p, "inside.example.com", 443)).Rule);
        Assert.Equal("default-deny:unique-local", (await Decide(p, "v6.example.com", 443)).Rule);
        // A rebinding answer: the public address is allowed and used, the metadata one never is.
        var rebind = await Decide(p, "rebind.example.com", 80);
        Assert.True(rebind.Allowed);
        Assert.Equal(IPAddress.Parse("93.184.216.36"), rebind.Address!.Address);
        var onlyMetadata = new MapResolver(new Dictionary<string, IPAddress[]> { ["evil.example.com"] = [IPAddress.Parse("169.254.169.254")] });
        var d = await new PolicyEngine(p, onlyMetadata).DecideAsync("evil.example.com", 80, CancellationToken.None);
        Assert.Equal((false, "default-deny:link-local/metadata"), (d.Allowed, d.Rule));
    }

    [Theory]
    [InlineData("169.254.169.254", 80, "default-deny:link-local/metadata")]
    [InlineData("127.0.0.1", 80, "default-deny:loopback")]
    [InlineData("[::1]", 443, "default-deny:loopback")]
    [InlineData("::ffff:10.0.0.1", 443, "default-deny:private")]
    [InlineData("93.184.216.34", 443, "no-allow-rule")]
    public async Task IpLiteralsNeedAnAllowCidr(string host, int port, string rule)
    {
        var d = await Decide(new EgressPolicy { Allow = [new EgressRule { Domain = "*.example.com" }] }, host, port);
        Assert.Equal((false, rule), (d.Allowed, d.Rule));
    }

    [Fact]
    public async Task AWideCidrDoesNotOpenTheSpecialRangesButANarrowOneDoes()
    {
        var wide = new EgressPolicy { Allow = [new EgressRule { Cidr = "0.0.0.0/0" }] };
        Assert.True((await Decide(wide, "93.184.216.34", 443)).Allowed);
        Assert.Equal("default-deny:link-local/metadata", (await Decide(wide, "169.254.169.254", 80)).Rule);
        Assert.Equal("default-deny:private", (await Decide(wide, "10.0.0.1", 80)).Rule);
        var narrow = new EgressPolicy { Allow = [new EgressRule { Cidr = "10.1.0.0/16", Ports = [5432] }] };
        Assert.Equal((true, "allow[0]"), ((await Decide(narrow, "10.1.2.3", 5432)).Allowed, (await Decide(narrow, "10.1.2.3", 5432)).Rule));
        Assert.False((await Decide(narrow, "10.1.2.3", 22)).Allowed);
        var denied = narrow with { Deny = [new EgressRule { Cidr = "10.1.2.0/24" }] };
        Assert.Equal("deny[0]", (await Decide(denied, "10.1.2.3", 5432)).Rule);
    }

    [Fact]
    public async Task APinAllowsThatNameAndPortOnly()
    {
        var p = new EgressPolicy { Pins = [new EgressPin("api.allowed.test", 8443, "127.0.0.1")] };
        var pinned = await Decide(p, "api.allowed.test", 8443);
        Assert.Equal((true, "pin"), (pinned.Allowed, pinned.Rule));
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 8443), pinned.Address);
        Assert.False((await Decide(p, "api.allowed.test", 8444)).Allowed);
        Assert.False((await Decide(p, "127.0.0.1", 8443)).Allowed);
        var denied = p with { Deny = [new EgressRule { Domain = "api.allowed.test" }] };
        Assert.Equal("deny[0]", (await Decide(denied, "api.allowed.test", 8443)).Rule);
    }

    [Fact]
    public void TheValidatorNamesEveryBadField()
    {
        var n = new NetworkSpec
        {
            Mode = NetworkModes.Egress,
            Allow =
            [
                new EgressRule { Domain = "Bad_Domain!" },
                new EgressRule { Cidr = "10.0.0.0/33" },
                new EgressRule { Domain = "a.example.com", Cidr = "1.2.3.4" },
                new EgressRule { Domain = "x.example.com", Ports = [0, 70000] },
                new EgressRule { Domain = "api.example.com", Ports = [443] },
                new EgressRule { Cidr = "10.1.0.0/16" },
            ],
            Deny = [new EgressRule { Domain = "*.example.com" }, new EgressRule { Cidr = "10.0.0.0/8" }],
            Bandwidth = "10",
            MaxConnections = 0,
            Resolve = [new EgressPin("*.x", 0, "nope"), new EgressPin("a.test", 80, "127.0.0.1"), new EgressPin("a.test", 80, "127.0.0.2")],
            Secrets =
            [
                new EgressSecret { Name = "Bad Name", Domains = [], FromEnv = "X", FromFile = "/x" },
                new EgressSecret { Name = "gh", Domains = ["api.github.com"], FromEnv = "1X", Env = "bad-env" },
                new EgressSecret { Name = "gh", Domains = ["a.test"], FromFile = "relative" },
            ],
        };
        var fields = NetworkValidator.Validate(n).Select(e => e.Field).ToHashSet();
        Assert.Superset(new HashSet<string>
        {
            "network.allow[0].domain", "network.allow[1].cidr", "network.allow[2]", "network.allow[3].ports", "network.allow[4]",
            "network.allow[5]", "network.bandwidth", "network.maxConnections", "network.resolve[0].host", "network.resolve[0].port",
            "network.resolve[0].address", "network.resolve[2]", "network.secrets[0].name", "network.secrets[0].domains",
            "network.secrets[0]", "network.secrets[1].domains[0]", "network.secrets[1].fromEnv", "network.secrets[1].env",
            "network.secrets[2].name", "network.secrets[2].fromFile",
        }, fields);
        Assert.Empty(NetworkValidator.Validate(new NetworkSpec
        {
            Mode = NetworkModes.Egress,
            Allow = [new EgressRule { Domain = "*.example.com", Ports = [443] }],
            Deny = [new EgressRule { Domain = "x.example.com" }],
            Secrets = [new EgressSecret { Name = "api", Domains = ["api.example.com"], FromEnv = "API_TOKEN", Env = "API_TOKEN" }],
        }));
    }

    [Fact]
    public void ModeNoneRefusesRulesThatWouldDoNothing()
    {
        var fields = NetworkValidator.Validate(new NetworkSpec { Allow = [new EgressRule { Domain = "a.test" }], TerminateTls = true })
            .Select(e => e.Field).ToHashSet();
        Assert.Equal(new HashSet<string> { "network.allow", "network.terminateTls" }, fields);
        Assert.Contains(NetworkValidator.Validate(new NetworkSpec { Mode = "open" }), e => e.Field == "network.mode");
    }

    [Fact]
    public void SecretValuesComeFromTheProxyHostAndAMissingOneIsNamed()
    {
        var n = new NetworkSpec
        {
            Mode = NetworkModes.Egress,
            Allow = [new EgressRule { Domain = "api.example.com" }],
            Secrets = [new EgressSecret { Name = "api", Domains = ["api.example.com"], FromEnv = "API_TOKEN" }],
        };
        var p = EgressPolicy.FromNetwork(n, [new EgressPin("x.test", 80, "127.0.0.1")], name => name == "API_TOKEN" ? "s3cr3t" : null);
        Assert.Equal("s3cr3t", Assert.Single(p.Secrets).Value);
        Assert.DoesNotContain("s3cr3t", p.Secrets[0].ToString());
        Assert.True(p.Secrets[0].IsFor("api.example.com"));
        Assert.False(p.Secrets[0].IsFor("evil.example.com"));
        Assert.Single(p.Pins);
        var e = Assert.Throws<Airlock.Core.AirlockException>(() => EgressPolicy.FromNetwork(n, environment: _ => null));
        Assert.Contains("network.secrets[0].fromEnv", e.Message);
    }
}
