using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Airlock.Core;
using Airlock.Core.Model;
using Airlock.Core.Util;
using Airlock.Core.Validation;
using Airlock.Screening;
using YamlDotNet.Core;

namespace Airlock.Mcp.Gateway;

/// <summary>One upstream MCP server the gateway fronts: a stdio program run inside its own Airlock sandbox.</summary>
public sealed record UpstreamSpec
{
    /// <summary>Program and arguments, run inside the sandbox (e.g. <c>[node, /opt/mcp/…/index.js, /data]</c>).</summary>
    public IReadOnlyList<string> Command { get; init; } = [];

    /// <summary>The server's whole environment on top of the sandbox's fixed one (PATH, HOME, LANG, TMPDIR); nothing
    /// comes from the gateway's own environment.</summary>
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();

    /// <summary>Host paths bound into the sandbox (read-only unless <c>readOnly: false</c>); nothing else of the host
    /// is visible but the read-only system directories.</summary>
    public IReadOnlyList<MountSpec> Mounts { get; init; } = [];

    /// <summary>Domains the server may connect to through the egress proxy (<c>api.example.com</c>,
    /// <c>*.example.com</c>, optionally <c>:PORT</c>). Empty: no network at all.</summary>
    public IReadOnlyList<string> AllowDomains { get; init; } = [];

    /// <summary>Names pinned to an address for the egress proxy (like curl's <c>--resolve</c>): no DNS for them, and
    /// the pin is an explicit allow for that name and port. Needs <see cref="AllowDomains"/> (egress mode).</summary>
    public IReadOnlyList<EgressPin> Resolve { get; init; } = [];

    /// <summary>Limits of the server's sandbox; unset fields keep the template defaults (512Mi, 1 CPU, 128 pids).</summary>
    public ResourceSpec Resources { get; init; } = new() { Memory = "512Mi", Pids = 256 };

    /// <summary>OCI runtime: <c>crun</c> (default), <c>runc</c> or <c>runsc</c> (gVisor).</summary>
    public string Runtime { get; init; } = OciRuntimes.Crun;

    /// <summary>Working directory inside the sandbox; the workspace when null.</summary>
    public string? Cwd { get; init; }
}

/// <summary>
/// <c>gateway.yaml</c>: the upstream servers and the gateway's policy. Paths are relative to the file.
/// <code>
/// servers:
///   fs:
///     command: [node, /opt/mcp/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js, /data]
///     mounts: [{ host: ./project, path: /data, readOnly: true }, { host: /opt/npm/node_modules, path: /opt/mcp/node_modules }]
///     env: { LOG_LEVEL: info }
///     allowDomains: []
///     resources: { memory: 256Mi, cpus: 0.5, pids: 64 }
/// screening: { actions: { cross-tool-reference: block } }
/// trustedKeys: [./publisher.pub.pem]
/// manifests: ./manifests
/// signingKey: ./gateway-key.pem
/// tenant: me
/// http: { tokenFile: ./gateway.token }
/// </code>
/// </summary>
public sealed record GatewayConfig
{
    /// <summary>Prefix-free separator of the namespaced tool names (<c>fs__read_file</c>).</summary>
    public const string Separator = "__";

    /// <summary>The gateway's own server name, reserved (its <c>gateway__status</c> tool).</summary>
    public const string Reserved = "gateway";

    public IReadOnlyDictionary<string, UpstreamSpec> Servers { get; init; } = new Dictionary<string, UpstreamSpec>();

    public ScreeningSpec Screening { get; init; } = new();

    /// <summary>PEM public keys (files) of publishers whose signed manifests are trusted, besides the local key.</summary>
    public IReadOnlyList<string> TrustedKeys { get; init; } = [];

    /// <summary>Directory of approved manifests (one DSSE envelope per server).</summary>
    public string Manifests { get; init; } = "manifests";

    /// <summary>PEM private key (ECDSA P-256) that <c>approve</c> signs with; created on first use.</summary>
    public string SigningKey { get; init; } = "gateway-key.pem";

    /// <summary>Tenant recorded in the audit log for every call.</summary>
    public string Tenant { get; init; } = "local";

    /// <summary>File holding the bearer token HTTP clients must send (<c>--http</c>); or <c>AIRLOCK_GATEWAY_TOKEN</c>.</summary>
    public string? HttpTokenFile { get; init; }

    /// <summary>Reads and validates a config file; every bad field is named at once.</summary>
    public static GatewayConfig Load(string path)
    {
        var (text, baseDir) = ConfigFile.Read(path, "gateway config");
        return Parse(text, path, baseDir);
    }

    public static GatewayConfig Parse(string text, string source, string baseDir)
    {
        var tree = ConfigFile.Parse(text, source);
        var errors = new List<ValidationError>();
        if (tree is not JsonObject root)
        {
            throw new ValidationException(source, [new ValidationError("(root)", "must be a mapping with at least servers:")]);
        }
        var c = new GatewayConfig();
        string Rel(string p) => Path.GetFullPath(Path.Combine(baseDir, p));
        foreach (var (key, value) in root)
        {
            switch (key)
            {
                case "servers":
                    if (value is JsonObject servers)
                    {
                        var map = new Dictionary<string, UpstreamSpec>(StringComparer.Ordinal);
                        foreach (var (name, s) in servers)
                        {
                            map[name] = ParseServer(s, $"servers.{name}", Rel, errors);
                        }
                        c = c with { Servers = map };
                    }
                    else
                    {
                        errors.Add(new(key, "must be a mapping of server name to {command, env, mounts, allowDomains}"));
                    }
                    break;
                case "screening":
                    c = c with { Screening = ParseScreening(value, errors) };
                    break;
                case "trustedKeys":
                    c = c with { TrustedKeys = Strings(value, key, errors).Select(Rel).ToList() };
                    break;
                case "manifests":
                    c = c with { Manifests = Rel(String(value, key, errors) ?? "") };
                    break;
                case "signingKey":
                    c = c with { SigningKey = Rel(String(value, key, errors) ?? "") };
                    break;
                case "tenant":
                    c = c with { Tenant = String(value, key, errors) ?? "" };
                    break;
                case "http":
                    if (value is JsonObject http)
                    {
                        foreach (var (hk, hv) in http)
                        {
                            if (hk == "tokenFile")
                            {
                                c = c with { HttpTokenFile = Rel(String(hv, "http.tokenFile", errors) ?? "") };
                            }
                            else
                            {
                                errors.Add(new($"http.{hk}", "unknown field (known: tokenFile)"));
                            }
                        }
                    }
                    else
                    {
                        errors.Add(new(key, "must be a mapping: { tokenFile: PATH }"));
                    }
                    break;
                default:
                    errors.Add(new(key, "unknown field (known: servers, screening, trustedKeys, manifests, signingKey, tenant, http)"));
                    break;
            }
        }
        if (!root.ContainsKey("manifests"))
        {
            c = c with { Manifests = Rel(c.Manifests) };
        }
        if (!root.ContainsKey("signingKey"))
        {
            c = c with { SigningKey = Rel(c.SigningKey) };
        }
        errors.AddRange(GatewayConfigValidator.Validate(c));
        if (errors.Count > 0)
        {
            throw new ValidationException(source, errors);
        }
        return c;
    }

    private static UpstreamSpec ParseServer(JsonNode? node, string at, Func<string, string> rel, List<ValidationError> errors)
    {
        var s = new UpstreamSpec();
        if (node is not JsonObject o)
        {
            errors.Add(new(at, "must be a mapping with command: [argv…]"));
            return s;
        }
        foreach (var (key, value) in o)
        {
            var f = $"{at}.{key}";
            switch (key)
            {
                case "command":
                    s = s with { Command = Strings(value, f, errors) };
                    break;
                case "env":
                    if (value is JsonObject env)
                    {
                        s = s with { Env = env.ToDictionary(kv => kv.Key, kv => String(kv.Value, $"{f}.{kv.Key}", errors) ?? "", StringComparer.Ordinal) };
                    }
                    else
                    {
                        errors.Add(new(f, "must be a mapping of NAME to value"));
                    }
                    break;
                case "mounts":
                    if (value is JsonArray mounts)
                    {
                        var list = new List<MountSpec>();
                        for (var i = 0; i < mounts.Count; i++)
                        {
                            var mf = $"{f}[{i}]";
                            if (mounts[i] is not JsonObject m)
                            {
                                errors.Add(new(mf, "must be {host, path, readOnly}"));
                                continue;
                            }
                            var mount = new MountSpec();
                            foreach (var (mk, mv) in m)
                            {
                                switch (mk)
                                {
                                    case "host":
                                        mount = mount with { Host = rel(String(mv, $"{mf}.host", errors) ?? "") };
                                        break;
                                    case "path":
                                        mount = mount with { Path = String(mv, $"{mf}.path", errors) ?? "" };
                                        break;
                                    case "readOnly":
                                        if (mv is JsonValue b && b.TryGetValue<bool>(out var ro))
                                        {
                                            mount = mount with { ReadOnly = ro };
                                        }
                                        else
                                        {
                                            errors.Add(new($"{mf}.readOnly", "must be true or false"));
                                        }
                                        break;
                                    default:
                                        errors.Add(new($"{mf}.{mk}", "unknown field (known: host, path, readOnly)"));
                                        break;
                                }
                            }
                            list.Add(mount);
                        }
                        s = s with { Mounts = list };
                    }
                    else
                    {
                        errors.Add(new(f, "must be a list of {host, path, readOnly}"));
                    }
                    break;
                case "allowDomains":
                    s = s with { AllowDomains = Strings(value, f, errors) };
                    break;
                case "resources":
                    s = s with { Resources = ParseResources(value, f, s.Resources, errors) };
                    break;
                case "resolve":
                    s = s with { Resolve = ParsePins(value, f, errors) };
                    break;
                case "runtime":
                    s = s with { Runtime = String(value, f, errors) ?? "" };
                    break;
                case "cwd":
                    s = s with { Cwd = String(value, f, errors) };
                    break;
                default:
                    errors.Add(new(f, "unknown field (known: command, env, mounts, allowDomains, resolve, resources, runtime, cwd)"));
                    break;
            }
        }
        return s;
    }

    private static List<EgressPin> ParsePins(JsonNode? node, string at, List<ValidationError> errors)
    {
        var pins = new List<EgressPin>();
        if (node is not JsonArray a)
        {
            errors.Add(new(at, "must be a list of {host, port, address}"));
            return pins;
        }
        for (var i = 0; i < a.Count; i++)
        {
            var f = $"{at}[{i}]";
            if (a[i] is not JsonObject o || o["host"] is not JsonValue h || !h.TryGetValue<string>(out var host)
                || o["port"] is not JsonValue p || !p.TryGetValue<long>(out var port) || port is < 1 or > 65535
                || o["address"] is not JsonValue ad || !ad.TryGetValue<string>(out var address) || o.Count != 3)
            {
                errors.Add(new(f, "must be { host: NAME, port: 1-65535, address: IP }"));
                continue;
            }
            pins.Add(new EgressPin { Host = host, Port = (int)port, Address = address });
        }
        return pins;
    }

    private static ResourceSpec ParseResources(JsonNode? node, string at, ResourceSpec r, List<ValidationError> errors)
    {
        if (node is not JsonObject o)
        {
            errors.Add(new(at, "must be a mapping: { memory, cpus, pids, disk, openFiles }"));
            return r;
        }
        foreach (var (key, value) in o)
        {
            var f = $"{at}.{key}";
            switch (key)
            {
                case "memory":
                    r = r with { Memory = Scalar(value, f, errors) ?? r.Memory };
                    break;
                case "disk":
                    r = r with { Disk = Scalar(value, f, errors) ?? r.Disk };
                    break;
                case "cpus":
                    if (value is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.Number && double.TryParse(v.ToString(), System.Globalization.CultureInfo.InvariantCulture, out var cpus))
                    {
                        r = r with { Cpus = cpus };
                    }
                    else
                    {
                        errors.Add(new(f, "must be a number of cores, e.g. 0.5"));
                    }
                    break;
                case "pids":
                case "openFiles":
                    if (value is JsonValue iv && iv.TryGetValue<long>(out var n) && n is > 0 and <= int.MaxValue)
                    {
                        r = key == "pids" ? r with { Pids = (int)n } : r with { OpenFiles = (int)n };
                    }
                    else
                    {
                        errors.Add(new(f, "must be a positive whole number"));
                    }
                    break;
                default:
                    errors.Add(new(f, "unknown field (known: memory, cpus, pids, disk, openFiles)"));
                    break;
            }
        }
        return r;
    }

    private static ScreeningSpec ParseScreening(JsonNode? node, List<ValidationError> errors)
    {
        var s = new ScreeningSpec();
        if (node is not JsonObject o)
        {
            errors.Add(new("screening", "must be a mapping: { maxDescriptionLength, actions, allowedLinkHosts }"));
            return s;
        }
        foreach (var (key, value) in o)
        {
            var f = $"screening.{key}";
            switch (key)
            {
                case "maxDescriptionLength":
                    if (value is JsonValue v && v.TryGetValue<long>(out var n) && n is >= 0 and <= int.MaxValue)
                    {
                        s = s with { MaxDescriptionLength = (int)n };
                    }
                    else
                    {
                        errors.Add(new(f, "must be an integer"));
                    }
                    break;
                case "actions":
                    if (value is JsonObject a)
                    {
                        s = s with { Actions = a.ToDictionary(kv => kv.Key, kv => String(kv.Value, $"{f}.{kv.Key}", errors) ?? "", StringComparer.Ordinal) };
                    }
                    else
                    {
                        errors.Add(new(f, "must be a mapping of finding code to block, strip or warn"));
                    }
                    break;
                case "allowedLinkHosts":
                    s = s with { AllowedLinkHosts = Strings(value, f, errors) };
                    break;
                default:
                    errors.Add(new(f, "unknown field (known: maxDescriptionLength, actions, allowedLinkHosts)"));
                    break;
            }
        }
        return s;
    }

    private static string? Scalar(JsonNode? node, string field, List<ValidationError> errors)
    {
        if (node is JsonValue v)
        {
            return v.ToString();
        }
        errors.Add(new(field, "must be a scalar"));
        return null;
    }

    private static string? String(JsonNode? node, string field, List<ValidationError> errors)
    {
        if (node is JsonValue v && v.TryGetValue<string>(out var s))
        {
            return s;
        }
        errors.Add(new(field, "must be a string"));
        return null;
    }

    private static List<string> Strings(JsonNode? node, string field, List<ValidationError> errors)
    {
        if (node is not JsonArray a)
        {
            errors.Add(new(field, "must be a list of strings"));
            return [];
        }
        var list = new List<string>();
        for (var i = 0; i < a.Count; i++)
        {
            if (String(a[i], $"{field}[{i}]", errors) is { } s)
            {
                list.Add(s);
            }
        }
        return list;
    }
}

/// <summary>Checks a <see cref="GatewayConfig"/>; every error names its field.</summary>
public static partial class GatewayConfigValidator
{
    [GeneratedRegex("^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")]
    private static partial Regex ServerName();

    [GeneratedRegex("^(\\*\\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$")]
    private static partial Regex DomainPattern();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex EnvName();

    public static IReadOnlyList<ValidationError> Validate(GatewayConfig c)
    {
        var errors = new List<ValidationError>();
        if (c.Servers.Count == 0)
        {
            errors.Add(new("servers", "no server is configured"));
        }
        foreach (var (name, s) in c.Servers)
        {
            var at = $"servers.{name}";
            if (!ServerName().IsMatch(name) || name == GatewayConfig.Reserved)
            {
                errors.Add(new(at, name == GatewayConfig.Reserved
                    ? "'gateway' is reserved for the gateway's own tools"
                    : $"'{name}' is not a server name (1-32 lowercase letters, digits or single '-', so that NAME__tool is unambiguous)"));
            }
            if (s.Command.Count == 0 || s.Command.Any(string.IsNullOrEmpty))
            {
                errors.Add(new($"{at}.command", "must be a non-empty list of non-empty strings (the program runs inside the sandbox)"));
            }
            foreach (var k in s.Env.Keys.Where(k => !EnvName().IsMatch(k)))
            {
                errors.Add(new($"{at}.env.{k}", "is not an environment variable name"));
            }
            for (var i = 0; i < s.AllowDomains.Count; i++)
            {
                if (!DomainPattern().IsMatch(s.AllowDomains[i]))
                {
                    errors.Add(new($"{at}.allowDomains[{i}]", $"'{s.AllowDomains[i]}' is not a lowercase domain (optionally *.domain, optionally :PORT)"));
                }
            }
            if (!OciRuntimes.All.Contains(s.Runtime))
            {
                errors.Add(new($"{at}.runtime", $"'{s.Runtime}' is not one of {string.Join(", ", OciRuntimes.All)}"));
            }
            // The sandbox's own rules (mount paths, limits, domains): reported under this server's name.
            var template = UpstreamTemplates.For(name, s);
            foreach (var e in TemplateValidator.Validate(template))
            {
                errors.Add(new($"{at}.{e.Field}", e.Reason));
            }
        }
        foreach (var e in ScreeningValidator.Validate(c.Screening))
        {
            errors.Add(new(e.Field, e.Reason));
        }
        if (string.IsNullOrWhiteSpace(c.Tenant))
        {
            errors.Add(new("tenant", "must not be empty"));
        }
        return errors;
    }
}
