using System.Text.Json.Nodes;
using Airlock.Core.Model;
using Airlock.Core.Templates;
using Airlock.Core.Util;
using Airlock.Core.Validation;
using Json.Schema;

namespace Airlock.Kubernetes.Tests;

public sealed class AgentSandboxTemplatesTests
{
    /// <summary>The CRD's openAPIV3Schema from ../shared/fixtures, as a JSON Schema.</summary>
    private static readonly JsonSchema CrdSchema = CrdSchemas.Load("extensions.agents.x-k8s.io_sandboxtemplates.yaml");

    public static TheoryData<string> Templates => new() { "shell", "python", "custom-runsc", "custom-runc" };

    private static SandboxTemplate Get(string name) => name switch
    {
        "custom-runsc" => TemplateLoader.Parse("""
            name: data-job
            description: "nightly data job: 'quoted', #hash"
            isolation: {runtime: runsc}
            command: [python3, -u]
            resources: {memory: 256Mi, cpus: 0.25, pids: 64, disk: 16Mi, openFiles: 256, timeout: 2m, outputLimit: 64Ki}
            workspace: {path: /work, size: 32Mi}
            env: {MODE: batch, EMPTY: "", NUMBERISH: "007", BOOLISH: "true"}
            """),
        "custom-runc" => TemplateLoader.Parse("name: tools\nisolation: {runtime: runc, userNamespace: off}\nrootFs: {hostPaths: [/usr, /bin], hostname: box}"),
        _ => BuiltinTemplates.Find(name)!,
    };

    [Theory]
    [MemberData(nameof(Templates))]
    public void ExportValidatesAgainstTheCrdSchema(string name)
    {
        var manifest = YamlJson.Parse(AgentSandboxTemplates.ExportYaml(Get(name)))!;
        var result = Evaluate(manifest, new EvaluationOptions { OutputFormat = OutputFormat.List });
        Assert.True(result.IsValid, string.Join("\n", (result.Details ?? []).Where(d => !d.IsValid && d.Errors is not null)
            .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}"))));
        Assert.Equal("extensions.agents.x-k8s.io/v1beta1", manifest["apiVersion"]!.GetValue<string>());
    }

    [Theory]
    [MemberData(nameof(Templates))]
    public void RoundTripsExactly(string name)
    {
        var t = Get(name);
        var back = AgentSandboxTemplates.Import(AgentSandboxTemplates.ExportYaml(t));
        Assert.Equal(TemplateLoader.ToJson(t), TemplateLoader.ToJson(back));
        Assert.Empty(TemplateValidator.Validate(back));
    }

    [Fact]
    public void RuntimeBecomesARuntimeClass()
    {
        var pod = AgentSandboxTemplates.Export(Get("custom-runsc"))["spec"]!["podTemplate"]!["spec"]!;
        Assert.Equal("gvisor", pod["runtimeClassName"]!.GetValue<string>());
        var sc = pod["containers"]![0]!["securityContext"]!;
        Assert.False(sc["allowPrivilegeEscalation"]!.GetValue<bool>());
        Assert.Equal("ALL", sc["capabilities"]!["drop"]![0]!.GetValue<string>());
        Assert.False(pod["automountServiceAccountToken"]!.GetValue<bool>());
    }

    [Fact]
    public void SchemaRejectsWhatTheCrdForbids()
    {
        // The test is only worth something if the schema can say no.
        var manifest = AgentSandboxTemplates.Export(Get("shell"));
        manifest["spec"]!["envVarsInjectionPolicy"] = "Sometimes";
        Assert.False(Evaluate(manifest).IsValid);
        var noPod = AgentSandboxTemplates.Export(Get("shell"));
        noPod["spec"]!.AsObject().Remove("podTemplate");
        Assert.False(Evaluate(noPod).IsValid);
    }

    [Fact]
    public void ImportNamesEveryBadField()
    {
        var e = Assert.Throws<ValidationException>(() => AgentSandboxTemplates.Import("""
            apiVersion: agents.x-k8s.io/v1beta1
            kind: Sandbox
            metadata:
              name: x
              annotations: {airlock.dev/pids: lots}
            spec:
              podTemplate:
                spec:
                  runtimeClassName: kata
                  containers:
                  - name: sandbox
                    env: [{name: TOKEN, valueFrom: {secretKeyRef: {name: s, key: k}}}]
                    resources: {limits: {cpu: fast}}
            """));
        var fields = e.Errors.Select(x => x.Field).ToHashSet();
        Assert.Superset(new HashSet<string>
        {
            "apiVersion", "kind", "metadata.annotations.airlock.dev/pids", "spec.podTemplate.spec.runtimeClassName",
            "spec.podTemplate.spec.containers[0].env[0].valueFrom", "spec.podTemplate.spec.containers[0].resources.limits.cpu",
        }, fields);
    }

    private static EvaluationResults Evaluate(JsonNode manifest, EvaluationOptions? options = null) =>
        CrdSchema.Evaluate(System.Text.Json.JsonDocument.Parse(manifest.ToJsonString()).RootElement, options);
}
