using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Airlock.Core.Util;

/// <summary>YAML ⇄ JSON trees, through YamlDotNet's representation model (no reflection, so trimming- and
/// NativeAOT-safe). Plain scalars are typed as YAML 1.2's core schema types them; quoted ones stay strings.</summary>
public static class YamlJson
{
    /// <summary>Parses the first document; null for an empty one. Throws <see cref="YamlException"/> on bad syntax.</summary>
    public static JsonNode? Parse(string text)
    {
        var yaml = new YamlStream();
        yaml.Load(new StringReader(text));
        return yaml.Documents.Count == 0 ? null : Convert(yaml.Documents[0].RootNode);
    }

    /// <summary>Writes a JSON tree as a YAML document.</summary>
    public static string Write(JsonNode node)
    {
        var writer = new StringWriter();
        new YamlStream(new YamlDocument(ToYaml(node))).Save(writer, assignAnchors: false);
        // YamlDotNet ends a document with "...": drop it, one document per file.
        var text = writer.ToString();
        return text.EndsWith("...\n", StringComparison.Ordinal) ? text[..^4] : text;
    }

    private static JsonNode? Convert(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(kv =>
            KeyValuePair.Create(((YamlScalarNode)kv.Key).Value ?? "", Convert(kv.Value)))),
        YamlSequenceNode seq => new JsonArray(seq.Children.Select(Convert).ToArray()),
        YamlScalarNode s => Scalar(s),
        _ => throw new YamlException(node.Start, node.End, "unsupported YAML node"),
    };

    private static JsonNode? Scalar(YamlScalarNode s)
    {
        var v = s.Value ?? "";
        if (s.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted or ScalarStyle.Literal or ScalarStyle.Folded)
        {
            return JsonValue.Create(v);
        }
        if (v is "" or "~" or "null" or "Null" or "NULL")
        {
            return null;
        }
        if (v is "true" or "True" or "TRUE")
        {
            return JsonValue.Create(true);
        }
        if (v is "false" or "False" or "FALSE")
        {
            return JsonValue.Create(false);
        }
        if (long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
        {
            return JsonValue.Create(l);
        }
        if (double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d))
        {
            return JsonValue.Create(d);
        }
        return JsonValue.Create(v);
    }

    private static YamlNode ToYaml(JsonNode? node) => node switch
    {
        null => new YamlScalarNode("null") { Style = ScalarStyle.Plain },
        JsonObject o => new YamlMappingNode(o.Select(kv => new KeyValuePair<YamlNode, YamlNode>(new YamlScalarNode(kv.Key), ToYaml(kv.Value)))),
        JsonArray a => new YamlSequenceNode(a.Select(ToYaml)),
        JsonValue v when v.GetValueKind() == JsonValueKind.String => StringScalar(v.GetValue<string>()),
        JsonValue v => new YamlScalarNode(v.ToJsonString()) { Style = ScalarStyle.Plain },
        _ => throw new InvalidOperationException("unsupported JSON node"),
    };

    /// <summary>Strings that would read back as another type (numbers, booleans, null) are quoted.</summary>
    private static YamlScalarNode StringScalar(string s)
    {
        var plain = Scalar(new YamlScalarNode(s) { Style = ScalarStyle.Plain });
        var needsQuotes = plain is null || plain.GetValueKind() != JsonValueKind.String || s.Length == 0;
        return new YamlScalarNode(s) { Style = needsQuotes ? ScalarStyle.DoubleQuoted : ScalarStyle.Any };
    }
}
