using System.Text.Json;
using System.Text.Json.Nodes;
using Airlock.Core.Util;
using Json.Schema;

namespace Airlock.Kubernetes.Tests;

/// <summary>The CRDs' openAPIV3Schemas from ../shared/fixtures, as JSON Schemas shared by the template, pool and claim tests.</summary>
internal static class CrdSchemas
{
    public static JsonSchema Load(string file)
    {
        for (var dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
        {
            var path = Path.Combine(dir, "..", "shared", "fixtures", "agent-sandbox-crds", file);
            if (File.Exists(path))
            {
                var crd = YamlJson.Parse(File.ReadAllText(path))!;
                var schema = crd["spec"]!["versions"]![0]!["schema"]!["openAPIV3Schema"]!;
                StripKubernetesExtensions(schema);
                return JsonSchema.FromText(schema.ToJsonString());
            }
        }
        throw new InvalidOperationException($"../shared/fixtures/agent-sandbox-crds/{file} not found above {AppContext.BaseDirectory}");
    }

    /// <summary>Evaluates with <c>format</c> asserted, so a shutdownTime that is no date-time fails as the API
    /// server would fail it.</summary>
    public static EvaluationResults Evaluate(JsonSchema schema, JsonNode manifest, OutputFormat format = OutputFormat.Flag) =>
        schema.Evaluate(JsonDocument.Parse(manifest.ToJsonString()).RootElement,
            new EvaluationOptions { OutputFormat = format, RequireFormatValidation = true });

    public static void AssertValid(JsonSchema schema, JsonNode manifest)
    {
        var result = Evaluate(schema, manifest, OutputFormat.List);
        Assert.True(result.IsValid, string.Join("\n", (result.Details ?? []).Where(d => !d.IsValid && d.Errors is not null)
            .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}"))));
    }

    /// <summary>x-kubernetes-* keywords steer the API server (list merging, int-or-string, which the schema also
    /// states with anyOf); JSON Schema has no meaning for them, and the validator refuses unknown keywords.</summary>
    private static void StripKubernetesExtensions(JsonNode? node)
    {
        if (node is JsonObject o)
        {
            foreach (var key in o.Select(kv => kv.Key).Where(k => k.StartsWith("x-kubernetes-", StringComparison.Ordinal)).ToList())
            {
                o.Remove(key);
            }
            foreach (var (_, child) in o)
            {
                StripKubernetesExtensions(child);
            }
        }
        else if (node is JsonArray a)
        {
            foreach (var child in a)
            {
                StripKubernetesExtensions(child);
            }
        }
    }
}
