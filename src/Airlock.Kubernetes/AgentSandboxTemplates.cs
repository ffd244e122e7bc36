using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Airlock.Core.Model;
using Airlock.Core.Util;
using Airlock.Core.Validation;

namespace Airlock.Kubernetes;

/// <summary>
/// Translates Airlock templates to and from kubernetes-sigs/agent-sandbox <c>SandboxTemplate</c> (v1beta1). What the
/// CRD can say natively goes into the pod template (runtimeClassName, command, env, CPU and memory limits, a
/// locked-down securityContext, an empty network policy) and the spec (envVarsInjectionPolicy); Airlock-only fields
/// (lifetime, limits the pod spec has no place for) ride along as <c>airlock.dev/…</c> annotations, so an import
/// gives back exactly the template that was exported.
/// </summary>
public static class AgentSandboxTemplates
{
    public const string ApiVersion = "extensions.agents.x-k8s.io/v1beta1";
    public const string Kind = "SandboxTemplate";
    private const string Prefix = "airlock.dev/";
    private const string ContainerName = "sandbox";

    /// <summary>OCI runtime → Kubernetes RuntimeClass name, as clusters conventionally call them.</summary>
    private static readonly Dictionary<string, string> RuntimeClasses = new()
    {
        [OciRuntimes.Runsc] = "gvisor",
        [OciRuntimes.Runc] = "runc",
        [OciRuntimes.Crun] = "crun",
    };

    public static JsonObject Export(SandboxTemplate t)
    {
        var annotations = new JsonObject
        {
            [Prefix + "isolation-class"] = t.Isolation.Class,
            [Prefix + "user-namespace"] = t.Isolation.UserNamespace,
            [Prefix + "host-paths"] = string.Join(",", t.RootFs.HostPaths),
            [Prefix + "hostname"] = t.RootFs.Hostname,
            [Prefix + "workspace-path"] = t.Workspace.Path,
            [Prefix + "workspace-size"] = t.Workspace.Size,
            [Prefix + "pids"] = t.Resources.Pids.ToString(CultureInfo.InvariantCulture),
            [Prefix + "disk"] = t.Resources.Disk,
            [Prefix + "open-files"] = t.Resources.OpenFiles.ToString(CultureInfo.InvariantCulture),
            [Prefix + "timeout"] = t.Resources.Timeout,
            [Prefix + "output-limit"] = t.Resources.OutputLimit,
            [Prefix + "network-mode"] = t.Network.Mode,
        };
        if (t.Description is { } d)
        {
            annotations[Prefix + "description"] = d;
        }
        if (t.Lifetime.IdleTimeout is { } idle)
        {
            annotations[Prefix + "idle-timeout"] = idle;
        }
        if (t.Lifetime.MaxLifetime is { } max)
        {
            annotations[Prefix + "max-lifetime"] = max;
        }
        var container = new JsonObject
        {
            ["name"] = ContainerName,
            ["workingDir"] = t.Workspace.Path,
            ["env"] = new JsonArray(t.Env
                .Select(e => (JsonNode)new JsonObject { ["name"] = e.Key, ["value"] = e.Value }).ToArray()),
            ["resources"] = new JsonObject
            {
                ["limits"] = new JsonObject
                {
                    ["cpu"] = t.Resources.Cpus.ToString(CultureInfo.InvariantCulture),
                    ["memory"] = t.Resources.Memory,
                },
            },
            ["securityContext"] = new JsonObject
            {
                ["runAsUser"] = 65534,
                ["runAsGroup"] = 65534,
                ["runAsNonRoot"] = true,
                ["allowPrivilegeEscalation"] = false,
                ["readOnlyRootFilesystem"] = true,
                ["privileged"] = false,
                ["capabilities"] = new JsonObject { ["drop"] = new JsonArray("ALL") },
                ["seccompProfile"] = new JsonObject { ["type"] = "RuntimeDefault" },
            },
        };
        if (t.Command is { } cmd)
        {
            container["command"] = new JsonArray(cmd.Select(c => (JsonNode)JsonValue.Create(c)).ToArray());
        }
        var podSpec = new JsonObject
        {
            ["automountServiceAccountToken"] = false,
            ["enableServiceLinks"] = false,
            ["hostname"] = t.RootFs.Hostname,
            ["containers"] = new JsonArray(container),
        };
        if (t.Isolation.Class == IsolationClasses.Oci && RuntimeClasses.TryGetValue(t.Isolation.Runtime, out var rc))
        {
            podSpec["runtimeClassName"] = rc;
        }
        return new JsonObject
        {
            ["apiVersion"] = ApiVersion,
            ["kind"] = Kind,
            ["metadata"] = new JsonObject { ["name"] = t.Name, ["annotations"] = annotations },
            ["spec"] = new JsonObject
            {
                // Whether a claim may add to (Allowed) or override (Overrides) the template's environment: the
                // same field, with the same values, in both worlds.
                ["envVarsInjectionPolicy"] = t.EnvVarsInjectionPolicy,
                ["networkPolicyManagement"] = "Managed",
                // No egress and no ingress rule: with the policy managed, nothing may connect either way.
                ["networkPolicy"] = new JsonObject { ["egress"] = new JsonArray(), ["ingress"] = new JsonArray() },
                ["podTemplate"] = new JsonObject { ["spec"] = podSpec },
            },
        };
    }

    public static string ExportYaml(SandboxTemplate t) => YamlJson.Write(Export(t));

    /// <summary>Reads a v1beta1 SandboxTemplate (YAML or JSON). Every problem is reported with its field path.</summary>
    public static SandboxTemplate Import(string text, string source = "manifest")
    {
        var errors = new List<ValidationError>();
        JsonObject doc;
        try
        {
            doc = YamlJson.Parse(text) as JsonObject ?? throw new ValidationException(source, [new("(root)", "must be a mapping")]);
        }
        catch (YamlDotNet.Core.YamlException e)
        {
            throw new ValidationException(source, [new ValidationError($"(line {e.Start.Line})", e.Message)]);
        }
        string? Str(JsonNode? n, string field, bool required = false)
        {
            if (n is JsonValue v && v.GetValueKind() == JsonValueKind.String)
            {
                return v.GetValue<string>();
            }
            if (n is not null || required)
            {
                errors.Add(new ValidationError(field, n is null ? "is required" : "must be a string"));
            }
            return null;
        }
        if (Str(doc["apiVersion"], "apiVersion", true) is { } api && api != ApiVersion)
        {
            errors.Add(new ValidationError("apiVersion", $"'{api}' is not {ApiVersion}"));
        }
        if (Str(doc["kind"], "kind", true) is { } kind && kind != Kind)
        {
            errors.Add(new ValidationError("kind", $"'{kind}' is not {Kind}"));
        }
        var name = Str(doc["metadata"]?["name"], "metadata.name", true) ?? "";
        var a = doc["metadata"]?["annotations"] as JsonObject ?? [];
        string Ann(string key, string fallback) => Str(a[Prefix + key], $"metadata.annotations.{Prefix}{key}") ?? fallback;
        int IntAnn(string key, int fallback)
        {
            var text = Ann(key, fallback.ToString(CultureInfo.InvariantCulture));
            if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            {
                return n;
            }
            errors.Add(new ValidationError($"metadata.annotations.{Prefix}{key}", $"'{text}' is not a whole number"));
            return fallback;
        }

        var podSpec = doc["spec"]?["podTemplate"]?["spec"];
        if (podSpec is not JsonObject)
        {
            errors.Add(new ValidationError("spec.podTemplate.spec", "is required"));
        }
        var containers = podSpec?["containers"] as JsonArray;
        var container = containers?.FirstOrDefault(c => c?["name"]?.GetValueKind() == JsonValueKind.String && c["name"]!.GetValue<string>() == ContainerName)
            ?? containers?.FirstOrDefault();
        if (container is null)
        {
            errors.Add(new ValidationError("spec.podTemplate.spec.containers", "must hold the sandbox container"));
        }
        const string c0 = "spec.podTemplate.spec.containers[0]";
        var defaults = new SandboxTemplate();
        var runtime = defaults.Isolation.Runtime;
        if (Str(podSpec?["runtimeClassName"], "spec.podTemplate.spec.runtimeClassName") is { } rc)
        {
            var match = RuntimeClasses.FirstOrDefault(kv => kv.Value == rc).Key;
            if (match is null)
            {
                errors.Add(new ValidationError("spec.podTemplate.spec.runtimeClassName", $"'{rc}' maps to no runtime Airlock drives ({string.Join(", ", RuntimeClasses.Values)})"));
            }
            runtime = match ?? runtime;
        }
        IReadOnlyList<string>? command = null;
        if (container?["command"] is JsonArray cmd)
        {
            command = cmd.Select((c, i) => Str(c, $"{c0}.command[{i}]", true) ?? "").ToList();
        }
        var env = new Dictionary<string, string>();
        if (container?["env"] is JsonArray envs)
        {
            for (var i = 0; i < envs.Count; i++)
            {
                var n = Str(envs[i]?["name"], $"{c0}.env[{i}].name", true);
                if (envs[i]?["valueFrom"] is not null)
                {
                    errors.Add(new ValidationError($"{c0}.env[{i}].valueFrom", "is not supported: Airlock environments are literal values"));
                }
                if (n is not null)
                {
                    env[n] = Str(envs[i]?["value"], $"{c0}.env[{i}].value") ?? "";
                }
            }
        }
        var limits = container?["resources"]?["limits"];
        var memory = Str(limits?["memory"], $"{c0}.resources.limits.memory") ?? defaults.Resources.Memory;
        var cpus = defaults.Resources.Cpus;
        var cpuNode = limits?["cpu"];
        if (cpuNode is JsonValue cv && cv.GetValueKind() == JsonValueKind.Number)
        {
            cpus = cv.GetValue<double>();
        }
        else if (Str(cpuNode, $"{c0}.resources.limits.cpu") is { } cpuText)
        {
            cpus = cpuText.EndsWith('m') && double.TryParse(cpuText[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var milli) ? milli / 1000
                : double.TryParse(cpuText, NumberStyles.Float, CultureInfo.InvariantCulture, out var cores) ? cores
                : AddError($"{c0}.resources.limits.cpu", $"'{cpuText}' is not a CPU quantity such as 500m or 1", cpus);
        }

        // The CRD defaults the policy to Disallowed, as Airlock does.
        var injection = Str(doc["spec"]?["envVarsInjectionPolicy"], "spec.envVarsInjectionPolicy") ?? defaults.EnvVarsInjectionPolicy;
        if (!EnvVarsInjectionPolicies.All.Contains(injection))
        {
            errors.Add(new ValidationError("spec.envVarsInjectionPolicy", $"'{injection}' must be one of {string.Join(", ", EnvVarsInjectionPolicies.All)}"));
            injection = defaults.EnvVarsInjectionPolicy;
        }

        var template = new SandboxTemplate
        {
            Name = name,
            Description = a[Prefix + "description"] is not null ? Ann("description", "") : null,
            Isolation = new IsolationSpec
            {
                Class = Ann("isolation-class", defaults.Isolation.Class),
                Runtime = runtime,
                UserNamespace = Ann("user-namespace", defaults.Isolation.UserNamespace),
            },
            Command = command,
            RootFs = new RootFsSpec
            {
                HostPaths = a[Prefix + "host-paths"] is not null ? Ann("host-paths", "").Split(',', StringSplitOptions.RemoveEmptyEntries) : defaults.RootFs.HostPaths,
                Hostname = Ann("hostname", Str(podSpec?["hostname"], "spec.podTemplate.spec.hostname") ?? defaults.RootFs.Hostname),
            },
            Workspace = new WorkspaceSpec
            {
                Path = Ann("workspace-path", Str(container?["workingDir"], $"{c0}.workingDir") ?? defaults.Workspace.Path),
                Size = Ann("workspace-size", defaults.Workspace.Size),
            },
            Resources = new ResourceSpec
            {
                Memory = memory,
                Cpus = cpus,
                Pids = IntAnn("pids", defaults.Resources.Pids),
                Disk = Ann("disk", defaults.Resources.Disk),
                OpenFiles = IntAnn("open-files", defaults.Resources.OpenFiles),
                Timeout = Ann("timeout", defaults.Resources.Timeout),
                OutputLimit = Ann("output-limit", defaults.Resources.OutputLimit),
            },
            Env = env,
            Network = new NetworkSpec { Mode = Ann("network-mode", defaults.Network.Mode) },
            EnvVarsInjectionPolicy = injection,
            Lifetime = new LifetimeSpec
            {
                IdleTimeout = a[Prefix + "idle-timeout"] is not null ? Ann("idle-timeout", "") : null,
                MaxLifetime = a[Prefix + "max-lifetime"] is not null ? Ann("max-lifetime", "") : null,
            },
        };
        if (errors.Count > 0)
        {
            throw new ValidationException(source, errors);
        }
        return template;

        double AddError(string field, string reason, double fallback)
        {
            errors.Add(new ValidationError(field, reason));
            return fallback;
        }
    }
}
