using System.Text.Json;
using System.Text.Json.Nodes;
using Airlock.Core.Model;
using Airlock.Core.Util;
using Airlock.Core.Validation;
using YamlDotNet.Core;

namespace Airlock.Core.Templates;

/// <summary>Reads templates from YAML or JSON. YAML is turned into a JSON tree first so that one
/// (source-generated, trimming-safe) model serves both formats, with unknown fields rejected by name.</summary>
public static class TemplateLoader
{
    /// <summary>A built-in template name, or a path to a .yaml/.yml/.json file.</summary>
    public static SandboxTemplate Load(string nameOrPath)
    {
        if (BuiltinTemplates.Find(nameOrPath) is { } builtin)
        {
            return builtin;
        }
        if (!File.Exists(nameOrPath))
        {
            throw new AirlockException(AirlockException.ErrorCodes.NotFound,
                $"template '{nameOrPath}' is neither a built-in template nor a file",
                $"use one of: {string.Join(", ", BuiltinTemplates.All.Select(t => t.Name))}, or a path to a YAML/JSON template");
        }
        return Parse(File.ReadAllText(nameOrPath), nameOrPath);
    }

    /// <summary>Parses YAML or JSON (JSON is YAML) into a template; syntax and type errors name the field.</summary>
    public static SandboxTemplate Parse(string text, string source = "template")
    {
        JsonNode? tree;
        try
        {
            tree = YamlJson.Parse(text);
        }
        catch (YamlException e)
        {
            throw new ValidationException(source, [new ValidationError($"(line {e.Start.Line})", e.Message)]);
        }
        if (tree is not JsonObject)
        {
            throw new ValidationException(source, [new ValidationError("(root)", "must be a mapping of template fields")]);
        }
        try
        {
            // Source-generated init-only properties are all assigned on deserialization, so a field missing from
            // the input would become null rather than keep its default: lay the input over the defaults first.
            var merged = JsonSerializer.SerializeToNode(new SandboxTemplate(), CoreJson.Default.SandboxTemplate)!.AsObject();
            Merge(merged, tree.AsObject());
            return merged.Deserialize(CoreJson.Default.SandboxTemplate)
                ?? throw new ValidationException(source, [new ValidationError("(root)", "is empty")]);
        }
        catch (JsonException e)
        {
            var field = string.IsNullOrEmpty(e.Path) ? "(root)" : e.Path.TrimStart('$', '.');
            var reason = e.Message.Contains("could not be mapped", StringComparison.Ordinal)
                ? "unknown field"
                : "has the wrong type" + (e.InnerException is { } inner ? $" ({inner.Message})" : "");
            if (reason == "unknown field")
            {
                // System.Text.Json names the unknown property in the message, not the path.
                var start = e.Message.IndexOf('\'') + 1;
                var end = start > 0 ? e.Message.IndexOf('\'', start) : -1;
                if (end > start)
                {
                    var prop = e.Message[start..end];
                    field = field is "(root)" or "" || field.EndsWith(prop, StringComparison.Ordinal) ? field.Replace("(root)", prop) : $"{field}.{prop}";
                }
            }
            throw new ValidationException(source, [new ValidationError(field, reason)]);
        }
    }

    private static void Merge(JsonObject target, JsonObject overlay)
    {
        foreach (var (key, value) in overlay.ToList())
        {
            if (value is JsonObject o && target[key] is JsonObject t)
            {
                Merge(t, o);
            }
            else if (value is JsonValue v && v.GetValueKind() is JsonValueKind.Number && target[key]?.GetValueKind() == JsonValueKind.String)
            {
                // YAML reads `size: 4096` as a number; size and duration fields are strings.
                target[key] = JsonValue.Create(v.ToJsonString());
            }
            else
            {
                target[key] = value?.DeepClone();
            }
        }
    }

    public static string ToJson(SandboxTemplate t) => JsonSerializer.Serialize(t, CoreJson.Default.SandboxTemplate);
}
