using System.Text.Json;
using System.Text.Json.Nodes;
using Airlock.Core.Control;
using Airlock.Core.Model;
using Airlock.Core.Templates;
using Airlock.Core.Util;
using Airlock.Core.Validation;
using Json.Schema;

namespace Airlock.Kubernetes.Tests;

public sealed class AgentSandboxResourcesTests
{
    private static readonly JsonSchema PoolSchema = CrdSchemas.Load("extensions.agents.x-k8s.io_sandboxwarmpools.yaml");
    private static readonly JsonSchema ClaimSchema = CrdSchemas.Load("extensions.agents.x-k8s.io_sandboxclaims.yaml");
    private static readonly JsonSchema TemplateSchema = CrdSchemas.Load("extensions.agents.x-k8s.io_sandboxtemplates.yaml");

    // ---- warm pools ----------------------------------------------------------------------------------------------

    public static TheoryData<string, int> Pools => new()
    {
        { UpdateStrategies.Recreate, 0 },
        { UpdateStrategies.OnReplenish, 5 },
        { UpdateStrategies.Recreate, 5 },
        { UpdateStrategies.OnReplenish, 0 },
        { UpdateStrategies.OnReplenish, SandboxWarmPoolValidator.MaxReplicas },
    };

    private static SandboxWarmPool Pool(string strategy, int replicas) => new(
        "python-pool",
        new SandboxWarmPoolSpec { Replicas = replicas, SandboxTemplateRef = new NameRef("python"), UpdateStrategy = new UpdateStrategy(strategy) },
        new SandboxWarmPoolStatus { Replicas = 3, ReadyReplicas = 2 });

    [Theory]
    [MemberData(nameof(Pools))]
    public void PoolExportValidatesAgainstTheCrdSchema(string strategy, int replicas)
    {
        var manifest = YamlJson.Parse(AgentSandboxResources.ExportPoolYaml(Pool(strategy, replicas)))!;
        CrdSchemas.AssertValid(PoolSchema, manifest);
        Assert.Equal("extensions.agents.x-k8s.io/v1beta1", manifest["apiVersion"]!.GetValue<string>());
        Assert.Equal("SandboxWarmPool", manifest["kind"]!.GetValue<string>());
        Assert.Equal(replicas, manifest["spec"]!["replicas"]!.GetValue<long>());
        Assert.Equal("python", manifest["spec"]!["sandboxTemplateRef"]!["name"]!.GetValue<string>());
        Assert.Equal(strategy, manifest["spec"]!["updateStrategy"]!["type"]!.GetValue<string>());
        Assert.Null(manifest["status"]);
    }

    [Theory]
    [MemberData(nameof(Pools))]
    public void PoolRoundTrips(string strategy, int replicas)
    {
        var pool = Pool(strategy, replicas);
        var back = AgentSandboxResources.ImportPool(AgentSandboxResources.ExportPoolYaml(pool));
        Assert.Equal(pool.Name, back.Name);
        Assert.Equal(pool.Spec, back.Spec);
        Assert.Equal(new SandboxWarmPoolStatus(), back.Status);
    }

    [Fact]
    public void SchemaRejectsABrokenPool()
    {
        // The schema tests are only worth something if the schema can say no.
        var negative = AgentSandboxResources.ExportPool(Pool(UpdateStrategies.Recreate, 1));
        negative["spec"]!["replicas"] = -1;
        Assert.False(CrdSchemas.Evaluate(PoolSchema, negative).IsValid);

        var noTemplate = AgentSandboxResources.ExportPool(Pool(UpdateStrategies.Recreate, 1));
        noTemplate["spec"]!.AsObject().Remove("sandboxTemplateRef");
        Assert.False(CrdSchemas.Evaluate(PoolSchema, noTemplate).IsValid);

        var badStrategy = AgentSandboxResources.ExportPool(Pool(UpdateStrategies.Recreate, 1));
        badStrategy["spec"]!["updateStrategy"]!["type"] = "RollingUpdate";
        Assert.False(CrdSchemas.Evaluate(PoolSchema, badStrategy).IsValid);

        var stringReplicas = AgentSandboxResources.ExportPool(Pool(UpdateStrategies.Recreate, 1));
        stringReplicas["spec"]!["replicas"] = "3";
        Assert.False(CrdSchemas.Evaluate(PoolSchema, stringReplicas).IsValid);
    }

    [Fact]
    public void PoolDefaultsAreTheCrdDefaults()
    {
        var pool = AgentSandboxResources.ImportPool("""
            apiVersion: extensions.agents.x-k8s.io/v1beta1
            kind: SandboxWarmPool
            metadata: {name: p, namespace: default, labels: {team: a}}
            spec:
              sandboxTemplateRef: {name: shell}
            status: {replicas: 9, readyReplicas: 9}
            """);
        Assert.Equal(1, pool.Spec.Replicas);
        Assert.Equal(UpdateStrategies.OnReplenish, pool.Spec.UpdateStrategy.Type);
        Assert.Equal(new SandboxWarmPoolStatus(), pool.Status);
    }

    [Fact]
    public void PoolImportNamesEveryBadField()
    {
        var e = Assert.Throws<ValidationException>(() => AgentSandboxResources.ImportPool("""
            apiVersion: agents.x-k8s.io/v1alpha1
            kind: SandboxClaim
            metadata: {name: p}
            spec:
              replicas: x
              sandboxTemplateRef: {name: shell}
              updateStrategy: {type: RollingUpdate}
              replica: 3
            """, "pool.yaml"));
        Assert.Contains("pool.yaml", e.Message);
        Assert.Superset(new HashSet<string>
        {
            "apiVersion", "kind", "spec.replicas", "spec.updateStrategy.type", "spec.replica",
        }, Fields(e));
        Assert.Contains(e.Errors, x => x.Field == "spec.replicas" && x.Reason.Contains("'x'"));
    }

    [Theory]
    [InlineData("replicas: -1", "spec.replicas")]
    [InlineData("replicas: 1.5", "spec.replicas")]
    [InlineData("replicas: 99999999999", "spec.replicas")]
    [InlineData("replicas: 257", "spec.replicas")]
    [InlineData("sandboxTemplateRef: {name: Not_A_Name}", "spec.sandboxTemplateRef.name")]
    [InlineData("sandboxTemplateRef: shell", "spec.sandboxTemplateRef")]
    [InlineData("updateStrategy: OnReplenish", "spec.updateStrategy")]
    [InlineData("{}", "spec.sandboxTemplateRef")]
    public void PoolImportRejects(string specLine, string field)
    {
        var spec = specLine == "{}" ? "{}" : specLine.StartsWith("sandboxTemplateRef", StringComparison.Ordinal)
            ? $"{{{specLine}}}"
            : $"{{sandboxTemplateRef: {{name: shell}}, {specLine}}}";
        var e = Assert.Throws<ValidationException>(() => AgentSandboxResources.ImportPool(
            $"apiVersion: extensions.agents.x-k8s.io/v1beta1\nkind: SandboxWarmPool\nmetadata: {{name: p}}\nspec: {spec}\n"));
        Assert.Contains(field, Fields(e));
    }

    [Fact]
    public void ImportWithoutNameOrSpecSaysSo()
    {
        var e = Assert.Throws<ValidationException>(() => AgentSandboxResources.ImportPool(
            "apiVersion: extensions.agents.x-k8s.io/v1beta1\nkind: SandboxWarmPool\nmetadata: {}\n"));
        Assert.Superset(new HashSet<string> { "metadata.name", "spec" }, Fields(e));
        Assert.Single(e.Errors, x => x.Field == "metadata.name");

        var bad = Assert.Throws<ValidationException>(() => AgentSandboxResources.ImportPool("- not\n- a mapping\n"));
        Assert.Equal("(root)", Assert.Single(bad.Errors).Field);
        var syntax = Assert.Throws<ValidationException>(() => AgentSandboxResources.ImportPool("kind: [unclosed\n"));
        Assert.StartsWith("(line ", Assert.Single(syntax.Errors).Field);
    }

    // ---- claims --------------------------------------------------------------------------------------------------

    public static TheoryData<string> Claims => new() { "pool", "template", "lifecycle-env", "template-lifecycle", "offset-time" };

    private static SandboxClaim Claim(string variant) => variant switch
    {
        "pool" => new("job-1", new SandboxClaimSpec { WarmPoolRef = new NameRef("python-pool") }, new SandboxClaimStatus()),
        "template" => new("job-2", new SandboxClaimSpec { SandboxTemplateRef = new NameRef("shell") },
            new SandboxClaimStatus { Sandbox = new NameRef("sbx-0123456789ab"), ClaimMs = 12.5 }),
        "lifecycle-env" => new("job-3", new SandboxClaimSpec
        {
            WarmPoolRef = new NameRef("python-pool"),
            Lifecycle = new ClaimLifecycle
            {
                ShutdownTime = new DateTimeOffset(2031, 5, 6, 7, 8, 9, 123, TimeSpan.Zero),
                ShutdownPolicy = ShutdownPolicies.Delete,
                TtlSecondsAfterFinished = 300,
            },
            Env = [new EnvVar("MODE", "batch"), new EnvVar("EMPTY", ""), new EnvVar("NUMBERISH", "007"), new EnvVar("BOOLISH", "true")],
        }, new SandboxClaimStatus()),
        "template-lifecycle" => new("job-4", new SandboxClaimSpec
        {
            SandboxTemplateRef = new NameRef("data-job"),
            Lifecycle = new ClaimLifecycle { ShutdownTime = new DateTimeOffset(2030, 1, 31, 12, 0, 0, TimeSpan.Zero), TtlSecondsAfterFinished = 0 },
            Env = [new EnvVar("X", "1")],
        }, new SandboxClaimStatus()),
        "offset-time" => new("job-5", new SandboxClaimSpec
        {
            WarmPoolRef = new NameRef("p"),
            Lifecycle = new ClaimLifecycle { ShutdownTime = new DateTimeOffset(2030, 1, 31, 14, 0, 0, TimeSpan.FromHours(2)) },
        }, new SandboxClaimStatus()),
        _ => throw new ArgumentException(variant),
    };

    [Theory]
    [MemberData(nameof(Claims))]
    public void ClaimExportValidatesAgainstTheCrdSchema(string variant)
    {
        var manifest = YamlJson.Parse(AgentSandboxResources.ExportClaimYaml(Claim(variant)))!;
        CrdSchemas.AssertValid(ClaimSchema, manifest);
        Assert.Equal("extensions.agents.x-k8s.io/v1beta1", manifest["apiVersion"]!.GetValue<string>());
        Assert.Equal("SandboxClaim", manifest["kind"]!.GetValue<string>());
        Assert.Null(manifest["status"]);
    }

    [Theory]
    [MemberData(nameof(Claims))]
    public void ClaimRoundTrips(string variant)
    {
        var claim = Claim(variant);
        var back = AgentSandboxResources.ImportClaim(AgentSandboxResources.ExportClaimYaml(claim));
        Assert.Equal(claim.Name, back.Name);
        Assert.Equal(claim.Spec.WarmPoolRef, back.Spec.WarmPoolRef);
        Assert.Equal(claim.Spec.SandboxTemplateRef, back.Spec.SandboxTemplateRef);
        // DateTimeOffset equality is the instant; the offset travels as UTC, as Kubernetes writes times.
        Assert.Equal(claim.Spec.Lifecycle, back.Spec.Lifecycle);
        Assert.Equal(claim.Spec.Env, back.Spec.Env);
        Assert.Equal(Json(claim.Spec with { Lifecycle = claim.Spec.Lifecycle with { ShutdownTime = claim.Spec.Lifecycle.ShutdownTime?.ToUniversalTime() } }),
            Json(back.Spec));
        Assert.Equal(Json(new SandboxClaimStatus()), Json(back.Status));
    }

    [Fact]
    public void ClaimFromATemplateNamesTheTemplateAsThePool()
    {
        var manifest = AgentSandboxResources.ExportClaim(Claim("template"));
        Assert.Equal("shell", manifest["spec"]!["warmPoolRef"]!["name"]!.GetValue<string>());
        Assert.Equal("shell", manifest["metadata"]!["annotations"]![AgentSandboxResources.SandboxTemplateRefAnnotation]!.GetValue<string>());
        Assert.Equal("airlock.dev/sandbox-template-ref", AgentSandboxResources.SandboxTemplateRefAnnotation);

        var back = AgentSandboxResources.ImportClaim(AgentSandboxResources.ExportClaimYaml(Claim("template")));
        Assert.Null(back.Spec.WarmPoolRef);
        Assert.Equal(new NameRef("shell"), back.Spec.SandboxTemplateRef);

        var fromPool = AgentSandboxResources.ExportClaim(Claim("pool"));
        Assert.Null(fromPool["metadata"]!["annotations"]);
        Assert.Null(AgentSandboxResources.ImportClaim(fromPool.ToJsonString()).Spec.SandboxTemplateRef);
    }

    [Fact]
    public void ClaimExportWritesKubernetesShapes()
    {
        var spec = AgentSandboxResources.ExportClaim(Claim("lifecycle-env"))["spec"]!;
        Assert.Equal("2031-05-06T07:08:09.123Z", spec["lifecycle"]!["shutdownTime"]!.GetValue<string>());
        Assert.Equal("Delete", spec["lifecycle"]!["shutdownPolicy"]!.GetValue<string>());
        Assert.Equal(300, spec["lifecycle"]!["ttlSecondsAfterFinished"]!.GetValue<int>());
        Assert.Equal("""[{"name":"MODE","value":"batch"},{"name":"EMPTY","value":""},{"name":"NUMBERISH","value":"007"},{"name":"BOOLISH","value":"true"}]""",
            spec["env"]!.ToJsonString());
        var offset = AgentSandboxResources.ExportClaim(Claim("offset-time"))["spec"]!["lifecycle"]!;
        Assert.Equal("2030-01-31T12:00:00Z", offset["shutdownTime"]!.GetValue<string>());
        Assert.Null(offset["ttlSecondsAfterFinished"]);
    }

    [Fact]
    public void SchemaRejectsABrokenClaim()
    {
        var noPool = AgentSandboxResources.ExportClaim(Claim("template"));
        noPool["spec"]!.AsObject().Remove("warmPoolRef");
        Assert.False(CrdSchemas.Evaluate(ClaimSchema, noPool).IsValid);

        var badPolicy = AgentSandboxResources.ExportClaim(Claim("lifecycle-env"));
        badPolicy["spec"]!["lifecycle"]!["shutdownPolicy"] = "Never";
        Assert.False(CrdSchemas.Evaluate(ClaimSchema, badPolicy).IsValid);

        var badTime = AgentSandboxResources.ExportClaim(Claim("lifecycle-env"));
        badTime["spec"]!["lifecycle"]!["shutdownTime"] = "next tuesday";
        Assert.False(CrdSchemas.Evaluate(ClaimSchema, badTime).IsValid);

        var envWithoutValue = AgentSandboxResources.ExportClaim(Claim("lifecycle-env"));
        envWithoutValue["spec"]!["env"]![0]!.AsObject().Remove("value");
        Assert.False(CrdSchemas.Evaluate(ClaimSchema, envWithoutValue).IsValid);

        var negativeTtl = AgentSandboxResources.ExportClaim(Claim("lifecycle-env"));
        negativeTtl["spec"]!["lifecycle"]!["ttlSecondsAfterFinished"] = -1;
        Assert.False(CrdSchemas.Evaluate(ClaimSchema, negativeTtl).IsValid);
    }

    [Fact]
    public void ClaimImportNamesEveryBadField()
    {
        var e = Assert.Throws<ValidationException>(() => AgentSandboxResources.ImportClaim("""
            apiVersion: v1
            kind: Sandbox
            metadata:
              name: job
              annotations: {airlock.dev/sandbox-template-ref: other}
            spec:
              warmPoolRef: {name: pool}
              lifecycle: {shutdownPolicy: Never, shutdownTime: next tuesday, ttlSecondsAfterFinished: soon}
              env:
              - {name: B}
              - {name: A, value: "1", containerName: sidecar}
              - just-a-string
              - {name: 1BAD, value: x}
              volumeClaimTemplates: [{spec: {}}]
              warmpoolref: {name: typo}
            """));
        Assert.Superset(new HashSet<string>
        {
            "apiVersion", "kind", "metadata.annotations.airlock.dev/sandbox-template-ref",
            "spec.lifecycle.shutdownPolicy", "spec.lifecycle.shutdownTime", "spec.lifecycle.ttlSecondsAfterFinished",
            "spec.env[0].value", "spec.env[1].containerName", "spec.env[2]", "spec.env[3].name",
            "spec.volumeClaimTemplates", "spec.warmpoolref",
        }, Fields(e));
    }

    [Theory]
    [InlineData("shutdownPolicy: Never", "spec.lifecycle.shutdownPolicy")]
    [InlineData("shutdownPolicy: DeleteForeground", "spec.lifecycle.shutdownPolicy")]
    [InlineData("shutdownPolicy: 1", "spec.lifecycle.shutdownPolicy")]
    [InlineData("shutdownTime: 2030-01-31", "spec.lifecycle.shutdownTime")]
    [InlineData("shutdownTime: 2030-02-30T00:00:00Z", "spec.lifecycle.shutdownTime")]
    [InlineData("ttlSecondsAfterFinished: -1", "spec.lifecycle.ttlSecondsAfterFinished")]
    [InlineData("ttlSecondsAfterFinished: 2592001", "spec.lifecycle.ttlSecondsAfterFinished")]
    public void ClaimImportRejectsABadLifecycle(string line, string field)
    {
        var e = Assert.Throws<ValidationException>(() => AgentSandboxResources.ImportClaim(
            $"apiVersion: extensions.agents.x-k8s.io/v1beta1\nkind: SandboxClaim\nmetadata: {{name: c}}\nspec: {{warmPoolRef: {{name: p}}, lifecycle: {{{line}}}}}\n"));
        Assert.Contains(field, Fields(e));
    }

    [Fact]
    public void ClaimImportRequiresAPool()
    {
        var e = Assert.Throws<ValidationException>(() => AgentSandboxResources.ImportClaim(
            "apiVersion: extensions.agents.x-k8s.io/v1beta1\nkind: SandboxClaim\nmetadata: {name: c}\nspec: {lifecycle: {shutdownPolicy: Delete}}\n"));
        Assert.Contains("spec.warmPoolRef", Fields(e));
        var dup = Assert.Throws<ValidationException>(() => AgentSandboxResources.ImportClaim(
            "apiVersion: extensions.agents.x-k8s.io/v1beta1\nkind: SandboxClaim\nmetadata: {name: c}\nspec: {warmPoolRef: {name: p}, env: [{name: A, value: x}, {name: A, value: y}]}\n"));
        Assert.Contains("spec.env[1].name", Fields(dup));
    }

    [Fact]
    public void ClaimImportReadsUpstreamManifests()
    {
        // A hand-written upstream claim, in JSON (JSON is YAML): a time with an offset and nanoseconds, pod metadata
        // (ignored: Airlock sandboxes are not pods), env for the sandbox container, the default policy.
        var claim = AgentSandboxResources.ImportClaim("""
            {"apiVersion": "extensions.agents.x-k8s.io/v1beta1", "kind": "SandboxClaim",
             "metadata": {"name": "c", "namespace": "agents", "uid": "1234"},
             "spec": {"warmPoolRef": {"name": "p"},
                      "additionalPodMetadata": {"labels": {"a": "b"}},
                      "lifecycle": {"shutdownTime": "2030-01-31t14:00:00.123456789+02:00"},
                      "env": [{"name": "A", "value": "1", "containerName": "sandbox"}]},
             "status": {"sandbox": {"name": "x"}}}
            """);
        Assert.Equal(new DateTimeOffset(2030, 1, 31, 12, 0, 0, TimeSpan.Zero).AddTicks(1234567), claim.Spec.Lifecycle.ShutdownTime);
        Assert.Equal(ShutdownPolicies.Retain, claim.Spec.Lifecycle.ShutdownPolicy);
        Assert.Equal(new[] { new EnvVar("A", "1") }, claim.Spec.Env);
        Assert.Null(claim.Status.Sandbox);
    }

    [Fact]
    public void PastShutdownTimeIsAcceptedAtImportButNotByTheValidatorNow()
    {
        var old = new SandboxClaim("old", new SandboxClaimSpec
        {
            WarmPoolRef = new NameRef("p"),
            Lifecycle = new ClaimLifecycle { ShutdownTime = new DateTimeOffset(2001, 1, 1, 0, 0, 0, TimeSpan.Zero) },
        }, new SandboxClaimStatus());
        var back = AgentSandboxResources.ImportClaim(AgentSandboxResources.ExportClaimYaml(old));
        Assert.Equal(old.Spec.Lifecycle.ShutdownTime, back.Spec.Lifecycle.ShutdownTime);
        // Whoever creates the claim checks the time against the clock.
        var e = Assert.Throws<ValidationException>(() => SandboxClaimValidator.EnsureValid(back.Name, back.Spec, DateTimeOffset.UtcNow));
        Assert.Contains("spec.lifecycle.shutdownTime", Fields(e));
    }

    [Fact]
    public void KindOfDispatches()
    {
        Assert.Equal("SandboxWarmPool", AgentSandboxResources.KindOf(AgentSandboxResources.ExportPoolYaml(Pool(UpdateStrategies.Recreate, 1))));
        Assert.Equal("SandboxClaim", AgentSandboxResources.KindOf(AgentSandboxResources.ExportClaimYaml(Claim("pool"))));
        Assert.Equal("SandboxTemplate", AgentSandboxResources.KindOf(AgentSandboxTemplates.ExportYaml(BuiltinTemplates.Find("shell")!)));
        Assert.Equal("kind", Assert.Single(Assert.Throws<ValidationException>(() => AgentSandboxResources.KindOf("apiVersion: v1\n")).Errors).Field);
        Assert.Equal("kind", Assert.Single(Assert.Throws<ValidationException>(() => AgentSandboxResources.KindOf("kind: [a]\n")).Errors).Field);
    }

    // ---- templates: envVarsInjectionPolicy and lifetime ----------------------------------------------------------

    public static TheoryData<string, string?, string?> TemplateVariants => new()
    {
        { EnvVarsInjectionPolicies.Disallowed, null, null },
        { EnvVarsInjectionPolicies.Allowed, "10m", null },
        { EnvVarsInjectionPolicies.Overrides, null, "1h" },
        { EnvVarsInjectionPolicies.Allowed, "30s", "24h" },
    };

    private static SandboxTemplate Template(string policy, string? idle, string? max) => BuiltinTemplates.Find("python")! with
    {
        Name = "agent",
        EnvVarsInjectionPolicy = policy,
        Lifetime = new LifetimeSpec { IdleTimeout = idle, MaxLifetime = max },
    };

    [Theory]
    [MemberData(nameof(TemplateVariants))]
    public void TemplateControlFieldsValidateAgainstTheCrdSchema(string policy, string? idle, string? max)
    {
        var manifest = YamlJson.Parse(AgentSandboxTemplates.ExportYaml(Template(policy, idle, max)))!;
        CrdSchemas.AssertValid(TemplateSchema, manifest);
        Assert.Equal(policy, manifest["spec"]!["envVarsInjectionPolicy"]!.GetValue<string>());
        var annotations = manifest["metadata"]!["annotations"]!;
        Assert.Equal(idle, annotations["airlock.dev/idle-timeout"]?.GetValue<string>());
        Assert.Equal(max, annotations["airlock.dev/max-lifetime"]?.GetValue<string>());
        Assert.Equal(idle is not null, annotations.AsObject().ContainsKey("airlock.dev/idle-timeout"));
        Assert.Equal(max is not null, annotations.AsObject().ContainsKey("airlock.dev/max-lifetime"));
    }

    [Theory]
    [MemberData(nameof(TemplateVariants))]
    public void TemplateControlFieldsRoundTrip(string policy, string? idle, string? max)
    {
        var t = Template(policy, idle, max);
        var back = AgentSandboxTemplates.Import(AgentSandboxTemplates.ExportYaml(t));
        Assert.Equal(policy, back.EnvVarsInjectionPolicy);
        Assert.Equal(t.Lifetime, back.Lifetime);
        Assert.Equal(TemplateLoader.ToJson(t), TemplateLoader.ToJson(back));
        Assert.Empty(TemplateValidator.Validate(back));
    }

    [Fact]
    public void TemplateImportChecksTheInjectionPolicy()
    {
        var manifest = AgentSandboxTemplates.Export(Template(EnvVarsInjectionPolicies.Allowed, null, null));
        manifest["spec"]!["envVarsInjectionPolicy"] = "Sometimes";
        Assert.False(CrdSchemas.Evaluate(TemplateSchema, manifest).IsValid);
        var e = Assert.Throws<ValidationException>(() => AgentSandboxTemplates.Import(manifest.ToJsonString()));
        Assert.Contains("spec.envVarsInjectionPolicy", Fields(e));

        manifest["spec"]!["envVarsInjectionPolicy"] = 3;
        e = Assert.Throws<ValidationException>(() => AgentSandboxTemplates.Import(manifest.ToJsonString()));
        Assert.Contains("spec.envVarsInjectionPolicy", Fields(e));

        // Absent, the CRD's default applies: Disallowed, as Airlock's.
        manifest["spec"]!.AsObject().Remove("envVarsInjectionPolicy");
        Assert.Equal(EnvVarsInjectionPolicies.Disallowed, AgentSandboxTemplates.Import(manifest.ToJsonString()).EnvVarsInjectionPolicy);
    }

    [Fact]
    public void TemplateImportNamesABadLifetimeAnnotation()
    {
        var manifest = AgentSandboxTemplates.Export(Template(EnvVarsInjectionPolicies.Allowed, "10m", null));
        manifest["metadata"]!["annotations"]!["airlock.dev/idle-timeout"] = 600;
        var e = Assert.Throws<ValidationException>(() => AgentSandboxTemplates.Import(manifest.ToJsonString()));
        Assert.Contains("metadata.annotations.airlock.dev/idle-timeout", Fields(e));
    }

    private static HashSet<string> Fields(ValidationException e) => e.Errors.Select(x => x.Field).ToHashSet();

    private static string Json(SandboxClaimSpec s) => JsonSerializer.Serialize(s, ControlJson.Default.SandboxClaimSpec);

    private static string Json(SandboxClaimStatus s) => JsonSerializer.Serialize(s, ControlJson.Default.SandboxClaimStatus);
}
