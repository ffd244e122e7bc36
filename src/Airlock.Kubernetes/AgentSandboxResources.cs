using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Airlock.Core.Control;
using Airlock.Core.Util;
using Airlock.Core.Validation;

namespace Airlock.Kubernetes;

/// <summary>
/// Translates Airlock's control-plane resources to and from kubernetes-sigs/agent-sandbox v1beta1
/// <c>SandboxWarmPool</c> and <c>SandboxClaim</c> manifests. Only the spec travels: status is observed state, so an
/// export leaves it out and an import starts from a fresh one.
/// <para>Upstream requires <c>spec.warmPoolRef</c> on a claim; an Airlock claim made straight from a template is
/// exported with <c>warmPoolRef.name</c> set to the template's name plus the annotation
/// <c>airlock.dev/sandbox-template-ref</c>, which an import turns back into <c>sandboxTemplateRef</c>.</para>
/// <para>An import reports every problem with its field path: the document's shape and types first, then the
/// resource's validator. Fields Airlock cannot honour (<c>shutdownPolicy: DeleteForeground</c>,
/// <c>volumeClaimTemplates</c>, env for another container) and unknown fields (typos) are errors rather than
/// silently dropped; <c>additionalPodMetadata</c> is ignored, as Airlock sandboxes are not pods. A
/// <c>lifecycle.shutdownTime</c> in the past is accepted: a manifest may be older than its shutdown time, and
/// whoever creates the claim checks it against the clock then.</para>
/// </summary>
public static partial class AgentSandboxResources
{
    public const string ApiVersion = "extensions.agents.x-k8s.io/v1beta1";
    public const string PoolKind = "SandboxWarmPool";
    public const string ClaimKind = "SandboxClaim";

    /// <summary>On an exported claim made from a template: the template's name (<c>warmPoolRef.name</c> repeats it).</summary>
    public const string SandboxTemplateRefAnnotation = "airlock.dev/sandbox-template-ref";

    /// <summary>The one container of a sandbox, as <see cref="AgentSandboxTemplates"/> names it.</summary>
    private const string ContainerName = "sandbox";

    public static JsonObject ExportPool(SandboxWarmPool p)
    {
        var spec = new JsonObject { ["replicas"] = p.Spec.Replicas };
        if (p.Spec.SandboxTemplateRef is { } t)
        {
            spec["sandboxTemplateRef"] = new JsonObject { ["name"] = t.Name };
        }
        if (p.Spec.UpdateStrategy is { } u)
        {
            spec["updateStrategy"] = new JsonObject { ["type"] = u.Type };
        }
        return Document(PoolKind, p.Name, null, spec);
    }

    public static string ExportPoolYaml(SandboxWarmPool p) => YamlJson.Write(ExportPool(p));

    public static JsonObject ExportClaim(SandboxClaim c)
    {
        var spec = new JsonObject();
        JsonObject? annotations = null;
        if (c.Spec.WarmPoolRef is { } pool)
        {
            spec["warmPoolRef"] = new JsonObject { ["name"] = pool.Name };
        }
        else if (c.Spec.SandboxTemplateRef is { } template)
        {
            // Upstream has no claim without a pool: name the template as the pool and say so in an annotation.
            spec["warmPoolRef"] = new JsonObject { ["name"] = template.Name };
            annotations = new JsonObject { [SandboxTemplateRefAnnotation] = template.Name };
        }
        var l = c.Spec.Lifecycle ?? new ClaimLifecycle();
        var lifecycle = new JsonObject { ["shutdownPolicy"] = l.ShutdownPolicy };
        if (l.ShutdownTime is { } at)
        {
            lifecycle["shutdownTime"] = FormatTime(at);
        }
        if (l.TtlSecondsAfterFinished is { } ttl)
        {
            lifecycle["ttlSecondsAfterFinished"] = ttl;
        }
        spec["lifecycle"] = lifecycle;
        if (c.Spec.Env is { Count: > 0 } env)
        {
            spec["env"] = new JsonArray(env.Select(e => (JsonNode)new JsonObject { ["name"] = e.Name, ["value"] = e.Value }).ToArray());
        }
        return Document(ClaimKind, c.Name, annotations, spec);
    }

    public static string ExportClaimYaml(SandboxClaim c) => YamlJson.Write(ExportClaim(c));

    /// <summary>The manifest's <c>kind</c> (e.g. <c>SandboxTemplate</c>, <c>SandboxWarmPool</c>,
    /// <c>SandboxClaim</c>), to choose the importer. Throws <see cref="ValidationException"/> when there is none.</summary>
    public static string KindOf(string text, string source = "manifest")
    {
        var doc = ParseRoot(text, source);
        return doc["kind"] is JsonValue v && v.GetValueKind() == JsonValueKind.String
            ? v.GetValue<string>()
            : throw new ValidationException(source, [new ValidationError("kind", doc["kind"] is null ? "is required" : "must be a string")]);
    }

    /// <summary>Reads a v1beta1 SandboxWarmPool (YAML or JSON). Every problem is reported with its field path.</summary>
    public static SandboxWarmPool ImportPool(string text, string source = "manifest")
    {
        var m = new Manifest(ParseRoot(text, source), PoolKind);
        var spec = m.Spec;
        m.Known(spec, "spec", "replicas", "sandboxTemplateRef", "updateStrategy");

        var result = new SandboxWarmPoolSpec();
        // The CRD defaults replicas to 1 and the update strategy to OnReplenish, as Airlock does.
        if (m.Int(spec?["replicas"], "spec.replicas") is { } replicas)
        {
            result.Replicas = replicas;
        }
        result.SandboxTemplateRef = m.Ref(spec?["sandboxTemplateRef"], "spec.sandboxTemplateRef", required: true);
        var strategy = m.Object(spec?["updateStrategy"], "spec.updateStrategy");
        m.Known(strategy, "spec.updateStrategy", "type");
        if (m.Str(strategy?["type"], "spec.updateStrategy.type") is { } type)
        {
            if (UpdateStrategies.All.Contains(type))
            {
                result.UpdateStrategy = new UpdateStrategy(type);
            }
            else
            {
                m.Error("spec.updateStrategy.type", $"'{type}' must be one of {string.Join(", ", UpdateStrategies.All)}");
            }
        }

        m.Validate(() => SandboxWarmPoolValidator.EnsureValid(m.Name, result), source);
        return new SandboxWarmPool(m.Name, result, new SandboxWarmPoolStatus());
    }

    /// <summary>Reads a v1beta1 SandboxClaim (YAML or JSON). Every problem is reported with its field path. A
    /// <c>lifecycle.shutdownTime</c> in the past is not an error here (see the class remarks).</summary>
    public static SandboxClaim ImportClaim(string text, string source = "manifest")
    {
        var m = new Manifest(ParseRoot(text, source), ClaimKind);
        var spec = m.Spec;
        m.Known(spec, "spec", "warmPoolRef", "lifecycle", "env", "additionalPodMetadata", "volumeClaimTemplates");

        var result = new SandboxClaimSpec();
        var pool = m.Ref(spec?["warmPoolRef"], "spec.warmPoolRef", required: true);
        const string refField = "metadata.annotations." + SandboxTemplateRefAnnotation;
        if (m.Annotations[SandboxTemplateRefAnnotation] is not null && m.Str(m.Annotations[SandboxTemplateRefAnnotation], refField) is { } template)
        {
            if (pool is not null && pool.Name != template)
            {
                m.Error(refField, $"'{template}' differs from spec.warmPoolRef.name '{pool.Name}': the claim would mean one thing to agent-sandbox and another to Airlock");
            }
            result.SandboxTemplateRef = new NameRef(template);
        }
        else
        {
            result.WarmPoolRef = pool;
        }

        var lifecycle = m.Object(spec?["lifecycle"], "spec.lifecycle");
        m.Known(lifecycle, "spec.lifecycle", "shutdownTime", "shutdownPolicy", "ttlSecondsAfterFinished");
        if (m.Str(lifecycle?["shutdownPolicy"], "spec.lifecycle.shutdownPolicy") is { } policy)
        {
            if (ShutdownPolicies.All.Contains(policy))
            {
                result.Lifecycle.ShutdownPolicy = policy;
            }
            else
            {
                m.Error("spec.lifecycle.shutdownPolicy", policy == "DeleteForeground"
                    ? $"'{policy}' is not supported: Airlock deletes at once; use {string.Join(" or ", ShutdownPolicies.All)}"
                    : $"'{policy}' must be one of {string.Join(", ", ShutdownPolicies.All)}");
            }
        }
        if (m.Str(lifecycle?["shutdownTime"], "spec.lifecycle.shutdownTime") is { } timeText)
        {
            if (TryParseTime(timeText, out var at))
            {
                result.Lifecycle.ShutdownTime = at;
            }
            else
            {
                m.Error("spec.lifecycle.shutdownTime", $"'{timeText}' is not an RFC 3339 date-time such as 2030-01-31T12:00:00Z");
            }
        }
        result.Lifecycle.TtlSecondsAfterFinished = m.Int(lifecycle?["ttlSecondsAfterFinished"], "spec.lifecycle.ttlSecondsAfterFinished");

        var env = new List<EnvVar>();
        var envIndex = new List<int>(); // env[i] was spec.env[envIndex[i]] (malformed entries are left out)
        if (spec?["env"] is { } envNode)
        {
            if (envNode is JsonArray items)
            {
                for (var i = 0; i < items.Count; i++)
                {
                    var field = $"spec.env[{i}]";
                    if (m.Object(items[i], field, required: true) is not { } item)
                    {
                        continue;
                    }
                    m.Known(item, field, "name", "value", "containerName");
                    if (m.Str(item["containerName"], $"{field}.containerName") is { } container && container != ContainerName)
                    {
                        m.Error($"{field}.containerName", $"'{container}' is not '{ContainerName}': an Airlock sandbox has one container");
                    }
                    var name = m.Str(item["name"], $"{field}.name", required: true);
                    var value = m.Str(item["value"], $"{field}.value", required: true);
                    if (name is not null && value is not null)
                    {
                        env.Add(new EnvVar(name, value));
                        envIndex.Add(i);
                    }
                }
            }
            else
            {
                m.Error("spec.env", "must be a list of {name, value}");
            }
        }
        result.Env = env;

        if (spec?["volumeClaimTemplates"] is JsonArray { Count: > 0 } or (not null and not JsonArray))
        {
            m.Error("spec.volumeClaimTemplates", "is not supported: an Airlock workspace is ephemeral and lives inside the sandbox");
        }

        // Shutdown times are checked against the clock by whoever creates the claim, not at import: an old manifest
        // may name a time already past. (DateTimeOffset.MinValue: no parsed time can be earlier.)
        m.Validate(() => SandboxClaimValidator.EnsureValid(m.Name, result, DateTimeOffset.MinValue), source,
            field => EnvItem().Replace(field, x => $"spec.env[{envIndex[int.Parse(x.Groups[1].Value, CultureInfo.InvariantCulture)]}]"));
        return new SandboxClaim(m.Name, result, new SandboxClaimStatus());
    }

    private static JsonObject Document(string kind, string name, JsonObject? annotations, JsonObject spec)
    {
        var metadata = new JsonObject { ["name"] = name };
        if (annotations is not null)
        {
            metadata["annotations"] = annotations;
        }
        return new JsonObject
        {
            ["apiVersion"] = ApiVersion,
            ["kind"] = kind,
            ["metadata"] = metadata,
            ["spec"] = spec,
        };
    }

    private static JsonObject ParseRoot(string text, string source)
    {
        try
        {
            return YamlJson.Parse(text) as JsonObject
                ?? throw new ValidationException(source, [new ValidationError("(root)", "must be a mapping")]);
        }
        catch (YamlDotNet.Core.YamlException e)
        {
            throw new ValidationException(source, [new ValidationError($"(line {e.Start.Line})", e.Message)]);
        }
    }

    /// <summary>RFC 3339 in UTC, as Kubernetes writes times; sub-second digits only when there are any.</summary>
    private static string FormatTime(DateTimeOffset t) =>
        t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^(\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")]
    private static partial Regex Rfc3339();

    [GeneratedRegex(@"^spec\.env\[(\d+)\]")]
    private static partial Regex EnvItem();

    private static bool TryParseTime(string text, out DateTimeOffset time)
    {
        time = default;
        var match = Rfc3339().Match(text);
        if (!match.Success)
        {
            return false;
        }
        // .NET keeps 100 ns ticks: finer digits (Go writes up to nanoseconds) are cut, not refused.
        var fraction = match.Groups[2].Value;
        var normalized = match.Groups[1].Value.ToUpperInvariant()
            + (fraction.Length > 8 ? fraction[..8] : fraction)
            + match.Groups[3].Value.ToUpperInvariant();
        return DateTimeOffset.TryParseExact(normalized,
            ["yyyy-MM-dd'T'HH:mm:ssK", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK"],
            CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out time);
    }

    /// <summary>One manifest being read: the checks common to both kinds, and the errors found so far.</summary>
    private sealed class Manifest
    {
        private readonly List<ValidationError> errors = [];

        public Manifest(JsonObject doc, string kind)
        {
            Known(doc, "", "apiVersion", "kind", "metadata", "spec", "status");
            if (Str(doc["apiVersion"], "apiVersion", required: true) is { } api && api != ApiVersion)
            {
                Error("apiVersion", $"'{api}' is not {ApiVersion}");
            }
            if (Str(doc["kind"], "kind", required: true) is { } k && k != kind)
            {
                Error("kind", $"'{k}' is not {kind}");
            }
            var metadata = Object(doc["metadata"], "metadata", required: true);
            Name = Str(metadata?["name"], "metadata.name", required: true) ?? "";
            Annotations = Object(metadata?["annotations"], "metadata.annotations") ?? [];
            Spec = Object(doc["spec"], "spec", required: true);
        }

        public string Name { get; }

        public JsonObject Annotations { get; }

        public JsonObject? Spec { get; }

        public void Error(string field, string reason) => errors.Add(new ValidationError(field, reason));

        public string? Str(JsonNode? n, string field, bool required = false)
        {
            if (n is JsonValue v && v.GetValueKind() == JsonValueKind.String)
            {
                return v.GetValue<string>();
            }
            if (n is not null || required)
            {
                Error(field, n is null ? "is required" : "must be a string");
            }
            return null;
        }

        public JsonObject? Object(JsonNode? n, string field, bool required = false)
        {
            if (n is JsonObject o)
            {
                return o;
            }
            if (n is not null || required)
            {
                Error(field, n is null ? "is required" : "must be a mapping");
            }
            return null;
        }

        /// <summary>A 32-bit whole number (the CRD's <c>format: int32</c>); null when absent or wrong.</summary>
        public int? Int(JsonNode? n, string field)
        {
            if (n is null)
            {
                return null;
            }
            var number = n.GetValueKind() == JsonValueKind.Number;
            var text = n is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : n.ToJsonString();
            if (number && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
            {
                if (l is >= int.MinValue and <= int.MaxValue)
                {
                    return (int)l;
                }
                Error(field, $"{text} is out of range (32 bits)");
                return null;
            }
            Error(field, $"'{text}' is not a whole number");
            return null;
        }

        /// <summary>A <c>{name: …}</c> reference.</summary>
        public NameRef? Ref(JsonNode? n, string field, bool required = false)
        {
            var o = Object(n, field, required);
            Known(o, field, "name");
            return o is not null && Str(o["name"], $"{field}.name", required: true) is { } name ? new NameRef(name) : null;
        }

        /// <summary>Names each field of <paramref name="o"/> that the CRD (as Airlock reads it) does not have.</summary>
        public void Known(JsonObject? o, string path, params string[] fields)
        {
            foreach (var (key, _) in o ?? [])
            {
                if (!fields.Contains(key))
                {
                    Error(path.Length == 0 ? key : $"{path}.{key}", "unknown field");
                }
            }
        }

        /// <summary>Runs the resource's validator, then throws everything found, each field once (the shape's
        /// error, if any, is the more precise one). <paramref name="field"/> maps the validator's field paths to the
        /// document's, where they differ.</summary>
        public void Validate(Action validator, string source, Func<string, string>? field = null)
        {
            try
            {
                validator();
            }
            catch (ValidationException e)
            {
                var reported = errors.Select(x => x.Field).ToHashSet();
                errors.AddRange(e.Errors
                    .Select(x => field is null ? x : x with { Field = field(x.Field) })
                    .Where(x => !reported.Contains(x.Field)));
            }
            if (errors.Count > 0)
            {
                throw new ValidationException(source, errors);
            }
        }
    }
}
