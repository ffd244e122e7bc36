using Airlock.Core.Control;
using Airlock.Core.Validation;

namespace Airlock.ControlPlane.Tests;

/// <summary>The sandbox, claim and warm-pool validators: every error names its field, and all are reported at once.</summary>
public sealed class ResourceValidatorTests
{
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly NameRef Shell = new("shell");

    private static IReadOnlyList<string> Fields(Action validate) =>
        Assert.Throws<ValidationException>(validate).Errors.Select(e => e.Field).ToList();

    // ------------------------------------------------------------------ sandboxes

    [Fact]
    public void AValidSandboxPasses()
    {
        SandboxSpecValidator.EnsureValid("s1", new SandboxSpec { SandboxTemplateRef = Shell }, Now);
        SandboxSpecValidator.EnsureValid(new string('a', 63), new SandboxSpec
        {
            SandboxTemplateRef = Shell,
            ShutdownTime = Now.AddMinutes(1),
            ShutdownPolicy = ShutdownPolicies.Delete,
            OperatingMode = OperatingModes.Suspended,
            Env = new Dictionary<string, string> { ["_A1"] = "x", ["B"] = "" },
        }, Now);
    }

    [Theory]
    [InlineData("BAD_NAME")]
    [InlineData("")]
    [InlineData("-s")]
    [InlineData("s-")]
    [InlineData("s.1")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")] // 64
    public void ABadSandboxNameIsMetadataName(string name) =>
        Assert.Equal(["metadata.name"], Fields(() => SandboxSpecValidator.EnsureValid(name, new SandboxSpec { SandboxTemplateRef = Shell }, Now)));

    [Fact]
    public void EverySandboxFieldIsNamed()
    {
        var fields = Fields(() => SandboxSpecValidator.EnsureValid("S", new SandboxSpec
        {
            SandboxTemplateRef = null,
            ShutdownTime = Now,
            ShutdownPolicy = "Keep",
            OperatingMode = "Paused",
            Env = new Dictionary<string, string> { ["1A"] = "x" },
        }, Now));
        Assert.Equal(["metadata.name", "spec.sandboxTemplateRef.name", "spec.shutdownPolicy", "spec.operatingMode", "spec.shutdownTime", "spec.env[0].name"], fields);
        Assert.Equal(["spec.sandboxTemplateRef.name"], Fields(() => SandboxSpecValidator.EnsureValid("s", new SandboxSpec { SandboxTemplateRef = new NameRef("Shell") }, Now)));
        Assert.Equal(["spec.env[0].value"], Fields(() => SandboxSpecValidator.EnsureValid("s", new SandboxSpec
        {
            SandboxTemplateRef = Shell,
            Env = new Dictionary<string, string> { ["A"] = "a\0b" },
        }, Now)));
    }

    [Fact]
    public void TheMessageNamesTheResourceAndEachField()
    {
        var e = Assert.Throws<ValidationException>(() => SandboxSpecValidator.EnsureValid("s1", new SandboxSpec { ShutdownPolicy = "Keep" }, Now));
        Assert.Contains("sandbox 's1'", e.Message, StringComparison.Ordinal);
        Assert.Contains("spec.shutdownPolicy", e.Message, StringComparison.Ordinal);
        Assert.Contains("'Keep'", e.Message, StringComparison.Ordinal);
        Assert.Contains("spec.sandboxTemplateRef.name", e.Message, StringComparison.Ordinal);
    }

    // ------------------------------------------------------------------ claims

    [Fact]
    public void AValidClaimPasses()
    {
        SandboxClaimValidator.EnsureValid("c1", new SandboxClaimSpec { SandboxTemplateRef = Shell }, Now);
        SandboxClaimValidator.EnsureValid("c1", new SandboxClaimSpec
        {
            WarmPoolRef = new NameRef("pool-1"),
            Lifecycle = new ClaimLifecycle { ShutdownTime = Now.AddHours(1), ShutdownPolicy = ShutdownPolicies.Delete, TtlSecondsAfterFinished = 0 },
            Env = [new EnvVar("A", "1"), new EnvVar("B", "2")],
        }, Now);
    }

    [Fact]
    public void AClaimNamesExactlyOneSource()
    {
        Assert.Equal(["spec"], Fields(() => SandboxClaimValidator.EnsureValid("c1", new SandboxClaimSpec(), Now)));
        Assert.Equal(["spec"], Fields(() => SandboxClaimValidator.EnsureValid("c1", new SandboxClaimSpec { WarmPoolRef = new NameRef("p"), SandboxTemplateRef = Shell }, Now)));
        Assert.Equal(["spec.warmPoolRef.name"], Fields(() => SandboxClaimValidator.EnsureValid("c1", new SandboxClaimSpec { WarmPoolRef = new NameRef("P_1") }, Now)));
        Assert.Equal(["spec.sandboxTemplateRef.name"], Fields(() => SandboxClaimValidator.EnsureValid("c1", new SandboxClaimSpec { SandboxTemplateRef = new NameRef("") }, Now)));
    }

    [Fact]
    public void ClaimLifecycleAndEnvAreNamed()
    {
        var fields = Fields(() => SandboxClaimValidator.EnsureValid("C1", new SandboxClaimSpec
        {
            SandboxTemplateRef = Shell,
            Lifecycle = new ClaimLifecycle { ShutdownTime = Now.AddSeconds(-1), ShutdownPolicy = "Never", TtlSecondsAfterFinished = -1 },
            Env = [new EnvVar("A", "1"), new EnvVar("A", "2"), new EnvVar("", "3"), new EnvVar("B", "x\0")],
        }, Now));
        Assert.Equal(["metadata.name", "spec.lifecycle.shutdownPolicy", "spec.lifecycle.shutdownTime", "spec.lifecycle.ttlSecondsAfterFinished",
            "spec.env[1].name", "spec.env[2].name", "spec.env[3].value"], fields);
        Assert.Equal(["spec.lifecycle.ttlSecondsAfterFinished"], Fields(() => SandboxClaimValidator.EnsureValid("c1", new SandboxClaimSpec
        {
            SandboxTemplateRef = Shell,
            Lifecycle = new ClaimLifecycle { TtlSecondsAfterFinished = 30 * 86400 + 1 },
        }, Now)));
    }

    [Fact]
    public void AClaimWithNullCollectionsIsValidatedNotCrashed()
    {
        // JSON null for lifecycle or env reaches the validator as null (the deserializer does not enforce nullability).
        SandboxClaimValidator.EnsureValid("c1", new SandboxClaimSpec { SandboxTemplateRef = Shell, Lifecycle = null!, Env = null! }, Now);
        Assert.Equal(["spec.env[0].name", "spec.env[0].value"], Fields(() => SandboxClaimValidator.EnsureValid("c1", new SandboxClaimSpec
        {
            SandboxTemplateRef = Shell,
            Env = [null!],
        }, Now)));
    }

    // ------------------------------------------------------------------ warm pools

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(SandboxWarmPoolValidator.MaxReplicas)]
    public void AValidPoolPasses(int replicas) =>
        SandboxWarmPoolValidator.EnsureValid("p1", new SandboxWarmPoolSpec { Replicas = replicas, SandboxTemplateRef = Shell });

    [Theory]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    [InlineData(SandboxWarmPoolValidator.MaxReplicas + 1)]
    public void BadReplicasAreNamed(int replicas) =>
        Assert.Equal(["spec.replicas"], Fields(() => SandboxWarmPoolValidator.EnsureValid("p1", new SandboxWarmPoolSpec { Replicas = replicas, SandboxTemplateRef = Shell })));

    [Fact]
    public void EveryPoolFieldIsNamed()
    {
        Assert.Equal(["metadata.name", "spec.replicas", "spec.sandboxTemplateRef.name", "spec.updateStrategy.type"], Fields(() =>
            SandboxWarmPoolValidator.EnsureValid("Pool", new SandboxWarmPoolSpec { Replicas = -5, SandboxTemplateRef = null, UpdateStrategy = new UpdateStrategy("Rolling") })));
        Assert.Equal(["spec.updateStrategy.type"], Fields(() =>
            SandboxWarmPoolValidator.EnsureValid("p1", new SandboxWarmPoolSpec { SandboxTemplateRef = Shell, UpdateStrategy = null! })));
    }
}
