using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Airlock.Core;
using Airlock.Core.Util;
using Airlock.Core.Validation;
using YamlDotNet.Core;

namespace Airlock.Mcp.Server;

/// <summary>How <c>run_code</c> runs one language: in which template, with which interpreter argv (the code is
/// appended as the last argument).</summary>
/// <param name="Template">Template the ephemeral sandbox is created from; must also be allowed.</param>
/// <param name="Argv">Interpreter and flags, e.g. <c>["python3", "-c"]</c>.</param>
public sealed record LanguageBinding(string Template, IReadOnlyList<string> Argv);

/// <summary>
/// What an MCP client may do with this server. Everything is the operator's choice, not the agent's: the agent picks
/// among <see cref="AllowedTemplates"/> and the languages bound to them, and every other limit holds regardless of
/// what it asks for.
/// </summary>
public sealed record McpServerConfig
{
    /// <summary>Interpreters of the languages <c>run_code</c> knows; each still needs a template (see <see
    /// cref="Languages"/>).</summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<string>> Interpreters { get; } = new Dictionary<string, IReadOnlyList<string>>
    {
        ["python"] = ["python3", "-c"],
        ["shell"] = ["/bin/sh", "-c"],
        ["javascript"] = ["node", "-e"],
    };

    /// <summary>Template names an MCP client may create sandboxes from (create_sandbox) or run code in (run_code).
    /// Empty: every sandbox tool is refused.</summary>
    public IReadOnlyList<string> AllowedTemplates { get; init; } = [];

    /// <summary>Language → binding for <c>run_code</c>. Defaults: python in template <c>python</c>, shell in
    /// <c>shell</c>, javascript in a fresh V8 isolate (template <c>v8</c>).</summary>
    public IReadOnlyDictionary<string, LanguageBinding> Languages { get; init; } = DefaultLanguages;

    public static IReadOnlyDictionary<string, LanguageBinding> DefaultLanguages { get; } = new Dictionary<string, LanguageBinding>
    {
        ["python"] = new("python", Interpreters["python"]),
        ["shell"] = new("shell", Interpreters["shell"]),
        // The v8 class's argv is the language, then the code.
        ["javascript"] = new("v8", ["js"]),
    };

    /// <summary>Sandboxes one MCP session may hold at once (create_sandbox).</summary>
    public int MaxSandboxes { get; init; } = 4;

    /// <summary>A sandbox created through MCP is destroyed this long after creation at the latest, even if its
    /// session never ends cleanly.</summary>
    public TimeSpan MaxLifetime { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Timeout of run_code/exec when the agent gives none.</summary>
    public TimeSpan DefaultTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest timeout an agent may ask for.</summary>
    public TimeSpan MaxTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>stdout+stderr bytes of one run_code/exec; past it the process is killed (<c>output-limit</c>).</summary>
    public long MaxOutputBytes { get; init; } = 1 << 20;

    /// <summary>Largest file read_file returns and write_file accepts.</summary>
    public long MaxFileBytes { get; init; } = 4 << 20;

    /// <summary>HTTP only: an MCP session with no request for this long ends (its sandboxes are destroyed).</summary>
    public TimeSpan SessionIdleTimeout { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>Local (in-process) stdio server only: extra templates by name, loaded from these files at start.</summary>
    public IReadOnlyDictionary<string, string> TemplateFiles { get; init; } = new Dictionary<string, string>();

    /// <summary>The binding of a language, or an error that says why it cannot run here.</summary>
    public LanguageBinding LanguageOrThrow(string language)
    {
        if (!Interpreters.ContainsKey(language) && !Languages.ContainsKey(language))
        {
            throw new McpToolException("invalid-argument", "mcp:language",
                $"language '{Clip(language)}' is not one of: {string.Join(", ", Interpreters.Keys)}", "use python, javascript or shell");
        }
        if (!Languages.TryGetValue(language, out var binding))
        {
            throw new McpToolException("not-available", "mcp:language",
                $"language '{language}' is not bound to a template on this server",
                $"use {string.Join(" or ", Languages.Keys.Where(l => AllowedTemplates.Contains(Languages[l].Template)).DefaultIfEmpty("another language"))}; the operator can bind one with --language {language}=TEMPLATE");
        }
        if (!AllowedTemplates.Contains(binding.Template))
        {
            throw new McpToolException("forbidden", "mcp:allow-template",
                $"language '{language}' runs in template '{binding.Template}', which this server does not allow (allowed: {Allowed})",
                $"use a language whose template is allowed; the operator can allow it with --allow-template {binding.Template}");
        }
        return binding;
    }

    /// <summary>The template name if the operator allowed it, else an error naming the allowed ones.</summary>
    public string TemplateOrThrow(string template)
    {
        if (!AllowedTemplates.Contains(template))
        {
            throw new McpToolException("forbidden", "mcp:allow-template",
                $"template '{Clip(template)}' is not allowed on this server (allowed: {Allowed})",
                AllowedTemplates.Count == 0 ? "the operator must start the server with --allow-template NAME" : "create the sandbox from one of the allowed templates");
        }
        return template;
    }

    private string Allowed => AllowedTemplates.Count == 0 ? "none" : string.Join(", ", AllowedTemplates);

    internal static string Clip(string s) => s.Length > 64 ? s[..64] + "…" : s;

    /// <summary>Reads a YAML (or JSON) config file; every bad field is named at once.</summary>
    /// <remarks>
    /// <code>
    /// allowTemplates: [python, shell]
    /// languages: { javascript: shell }          # or { javascript: { template: shell, argv: [node, -e] } }
    /// maxSandboxes: 4
    /// maxLifetime: 1h
    /// defaultTimeout: 30s
    /// maxTimeout: 10m
    /// maxOutputBytes: 1Mi
    /// maxFileBytes: 4Mi
    /// sessionIdleTimeout: 30m
    /// templateFiles: { node: ./node.yaml }      # local stdio server only
    /// </code>
    /// </remarks>
    public static McpServerConfig Load(string path)
    {
        var (text, baseDir) = ConfigFile.Read(path, "MCP config");
        return Parse(text, path, baseDir);
    }

    public static McpServerConfig Parse(string text, string source, string baseDir)
    {
        var tree = ConfigFile.Parse(text, source);
        var errors = new List<ValidationError>();
        var config = new McpServerConfig();
        if (tree is null)
        {
            return config;
        }
        if (tree is not JsonObject root)
        {
            throw new ValidationException(source, [new ValidationError("(root)", "must be a mapping")]);
        }
        foreach (var (key, value) in root)
        {
            switch (key)
            {
                case "allowTemplates":
                    config = config with { AllowedTemplates = Strings(value, key, errors) };
                    break;
                case "languages":
                    config = config with { Languages = ParseLanguages(value, errors) };
                    break;
                case "maxSandboxes":
                    config = config with { MaxSandboxes = Int(value, key, 1, 1000, errors) };
                    break;
                case "maxLifetime":
                    config = config with { MaxLifetime = Duration(value, key, errors) };
                    break;
                case "defaultTimeout":
                    config = config with { DefaultTimeout = Duration(value, key, errors) };
                    break;
                case "maxTimeout":
                    config = config with { MaxTimeout = Duration(value, key, errors) };
                    break;
                case "maxOutputBytes":
                    config = config with { MaxOutputBytes = Bytes(value, key, errors) };
                    break;
                case "maxFileBytes":
                    config = config with { MaxFileBytes = Bytes(value, key, errors) };
                    break;
                case "sessionIdleTimeout":
                    config = config with { SessionIdleTimeout = Duration(value, key, errors) };
                    break;
                case "templateFiles":
                    if (value is JsonObject files)
                    {
                        config = config with
                        {
                            TemplateFiles = files.ToDictionary(kv => kv.Key, kv => Path.GetFullPath(Path.Combine(baseDir, String(kv.Value, "templateFiles." + kv.Key, errors) ?? ""))),
                        };
                    }
                    else
                    {
                        errors.Add(new(key, "must be a mapping of template name to file"));
                    }
                    break;
                default:
                    errors.Add(new(key, "unknown field"));
                    break;
            }
        }
        errors.AddRange(config.Check());
        if (errors.Count > 0)
        {
            throw new ValidationException(source, errors);
        }
        return config;
    }

    /// <summary>Merges command-line options over this config: <c>--allow-template</c> adds, <c>--language
    /// LANG=TEMPLATE</c> binds.</summary>
    public McpServerConfig With(IEnumerable<string> allowTemplates, IEnumerable<string> languages)
    {
        var errors = new List<ValidationError>();
        var langs = new Dictionary<string, LanguageBinding>(Languages);
        foreach (var spec in languages)
        {
            var eq = spec.IndexOf('=', StringComparison.Ordinal);
            var lang = eq > 0 ? spec[..eq] : "";
            if (eq <= 0 || eq == spec.Length - 1 || !Interpreters.TryGetValue(lang, out var interp))
            {
                errors.Add(new("--language", $"'{Clip(spec)}' is not LANG=TEMPLATE with LANG one of {string.Join(", ", Interpreters.Keys)}"));
                continue;
            }
            langs[lang] = new LanguageBinding(spec[(eq + 1)..], interp);
        }
        var merged = this with { AllowedTemplates = AllowedTemplates.Concat(allowTemplates).Distinct(StringComparer.Ordinal).ToList(), Languages = langs };
        errors.AddRange(merged.Check());
        if (errors.Count > 0)
        {
            throw new ValidationException("MCP server options", errors);
        }
        return merged;
    }

    /// <summary>Every problem of the config at once.</summary>
    public IReadOnlyList<ValidationError> Check()
    {
        var errors = new List<ValidationError>();
        for (var i = 0; i < AllowedTemplates.Count; i++)
        {
            if (!TemplateValidator.IsValidName(AllowedTemplates[i]))
            {
                errors.Add(new($"allowTemplates[{i}]", $"'{Clip(AllowedTemplates[i])}' is not a template name (1-63 lowercase letters, digits or '-')"));
            }
        }
        foreach (var (lang, b) in Languages)
        {
            if (!TemplateValidator.IsValidName(b.Template))
            {
                errors.Add(new($"languages.{lang}.template", $"'{Clip(b.Template)}' is not a template name"));
            }
            if (b.Argv.Count == 0 || b.Argv.Any(string.IsNullOrEmpty))
            {
                errors.Add(new($"languages.{lang}.argv", "must be a non-empty list of non-empty strings"));
            }
        }
        if (DefaultTimeout <= TimeSpan.Zero || DefaultTimeout > MaxTimeout)
        {
            errors.Add(new("defaultTimeout", "must be positive and at most maxTimeout"));
        }
        if (MaxTimeout > TimeSpan.FromDays(1))
        {
            errors.Add(new("maxTimeout", "must be at most 24h"));
        }
        if (MaxLifetime < TimeSpan.FromSeconds(1))
        {
            errors.Add(new("maxLifetime", "must be at least 1s"));
        }
        if (SessionIdleTimeout < TimeSpan.FromSeconds(1))
        {
            errors.Add(new("sessionIdleTimeout", "must be at least 1s"));
        }
        if (MaxOutputBytes is < 1 or > 1L << 30)
        {
            errors.Add(new("maxOutputBytes", "must be between 1 and 1Gi"));
        }
        if (MaxFileBytes is < 1 or > 64L << 20)
        {
            errors.Add(new("maxFileBytes", "must be between 1 and 64Mi"));
        }
        return errors;
    }

    private static Dictionary<string, LanguageBinding> ParseLanguages(JsonNode? value, List<ValidationError> errors)
    {
        var result = new Dictionary<string, LanguageBinding>(DefaultLanguages);
        if (value is not JsonObject map)
        {
            errors.Add(new("languages", "must be a mapping of language to template (or {template, argv})"));
            return result;
        }
        foreach (var (lang, v) in map)
        {
            var field = "languages." + lang;
            if (v is null)
            {
                result.Remove(lang);
            }
            else if (v is JsonValue && v.GetValueKind() == JsonValueKind.String)
            {
                if (!Interpreters.TryGetValue(lang, out var interp))
                {
                    errors.Add(new(field, $"has no default interpreter; give {{template, argv}} (known: {string.Join(", ", Interpreters.Keys)})"));
                    continue;
                }
                result[lang] = new LanguageBinding(v.GetValue<string>(), interp);
            }
            else if (v is JsonObject o)
            {
                var template = String(o["template"], field + ".template", errors) ?? "";
                var argv = o["argv"] is { } a ? Strings(a, field + ".argv", errors)
                    : Interpreters.TryGetValue(lang, out var interp) ? interp : [];
                foreach (var k in o.Select(kv => kv.Key).Where(k => k is not ("template" or "argv")))
                {
                    errors.Add(new($"{field}.{k}", "unknown field"));
                }
                result[lang] = new LanguageBinding(template, argv);
            }
            else
            {
                errors.Add(new(field, "must be a template name or {template, argv}"));
            }
        }
        return result;
    }

    private static string? String(JsonNode? v, string field, List<ValidationError> errors)
    {
        if (v is JsonValue && v.GetValueKind() == JsonValueKind.String)
        {
            return v.GetValue<string>();
        }
        errors.Add(new(field, "must be a string"));
        return null;
    }

    private static List<string> Strings(JsonNode? v, string field, List<ValidationError> errors)
    {
        if (v is JsonArray arr)
        {
            var list = new List<string>();
            for (var i = 0; i < arr.Count; i++)
            {
                if (String(arr[i], $"{field}[{i}]", errors) is { } s)
                {
                    list.Add(s);
                }
            }
            return list;
        }
        errors.Add(new(field, "must be a list of strings"));
        return [];
    }

    private static int Int(JsonNode? v, string field, int min, int max, List<ValidationError> errors)
    {
        if (v is JsonValue && v.GetValueKind() == JsonValueKind.Number && v.AsValue().TryGetValue<long>(out var n) && n >= min && n <= max)
        {
            return (int)n;
        }
        errors.Add(new(field, $"must be a whole number between {min} and {max}"));
        return min;
    }

    private static TimeSpan Duration(JsonNode? v, string field, List<ValidationError> errors)
    {
        var s = v is JsonValue && v.GetValueKind() is JsonValueKind.String or JsonValueKind.Number ? v.ToString() : null;
        if (s is not null && s.All(char.IsAsciiDigit))
        {
            s += "s";
        }
        if (Quantity.TryParseDuration(s, out var d))
        {
            return d;
        }
        errors.Add(new(field, "must be a duration such as 30s, 10m or 1h"));
        return TimeSpan.FromSeconds(1);
    }

    private static long Bytes(JsonNode? v, string field, List<ValidationError> errors)
    {
        var s = v is JsonValue && v.GetValueKind() is JsonValueKind.String or JsonValueKind.Number ? Convert.ToString(v.ToString(), CultureInfo.InvariantCulture) : null;
        if (Quantity.TryParseBytes(s, out var b))
        {
            return b;
        }
        errors.Add(new(field, "must be a size such as 1Mi or 65536"));
        return 1;
    }
}
