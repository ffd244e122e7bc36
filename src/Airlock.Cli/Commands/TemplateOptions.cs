using System.CommandLine;
using Airlock.Core;
using Airlock.Core.Model;
using Airlock.Core.Templates;
using Airlock.Core.Util;
using Airlock.Core.Validation;

namespace Airlock.Cli.Commands;

/// <summary>The options that pick a template and override its limits; shared by <c>run</c> and <c>sandbox create</c>.</summary>
internal sealed class TemplateOptions
{
    public Option<string?> Template { get; } = new("--template", "-t") { Description = "built-in template (shell, python) or a YAML/JSON file" };
    public Option<string?> Runtime { get; } = new("--runtime") { Description = "OCI runtime: crun (default), runc, runsc (gVisor)" };
    public Option<string?> Memory { get; } = new("--memory", "-m") { Description = "memory limit, e.g. 256Mi" };
    public Option<double?> Cpus { get; } = new("--cpus") { Description = "CPU quota in cores, e.g. 0.5" };
    public Option<int?> Pids { get; } = new("--pids") { Description = "maximum number of processes and threads" };
    public Option<string?> Timeout { get; } = new("--timeout") { Description = "wall-clock limit per command, e.g. 10s" };
    public Option<string?> OutputLimit { get; } = new("--output-limit") { Description = "cap on stdout+stderr, e.g. 1Mi" };
    public Option<string?> Disk { get; } = new("--disk") { Description = "size cap of /tmp, e.g. 64Mi" };
    public Option<string?> WorkspaceSize { get; } = new("--workspace-size") { Description = "size cap of the workspace, e.g. 256Mi" };
    public Option<string[]> Env { get; } = new("--env", "-e") { Description = "NAME=value added to the sandbox's environment (repeatable)", AllowMultipleArgumentsPerToken = false };
    public Option<string[]> AllowDomain { get; } = new("--allow-domain") { Description = "DOMAIN[:PORT]: let the sandbox reach this domain (or *.domain) through the egress proxy, on every port or the one given (repeatable; turns on network mode egress)", AllowMultipleArgumentsPerToken = false };
    public Option<string[]> Resolve { get; } = new("--resolve") { Description = "HOST:PORT:ADDR pins a name to an address, as in curl, and allows it for that port only (repeatable)", AllowMultipleArgumentsPerToken = false };

    public void AddTo(Command command)
    {
        foreach (var o in new Option[] { Template, Runtime, Memory, Cpus, Pids, Timeout, OutputLimit, Disk, WorkspaceSize, Env, AllowDomain, Resolve })
        {
            command.Options.Add(o);
        }
    }

    /// <summary>Whether any option changes the named template (else a daemon can be sent just its name).</summary>
    public bool HasOverrides(ParseResult p) =>
        p.GetValue(Runtime) is not null || p.GetValue(Memory) is not null || p.GetValue(Cpus) is not null || p.GetValue(Pids) is not null
        || p.GetValue(Timeout) is not null || p.GetValue(OutputLimit) is not null || p.GetValue(Disk) is not null
        || p.GetValue(WorkspaceSize) is not null || p.GetValue(Env) is { Length: > 0 }
        || p.GetValue(AllowDomain) is { Length: > 0 } || p.GetValue(Resolve) is { Length: > 0 };

    /// <summary>The template named by --template: a file, or (with a daemon) one the daemon knows, or a built-in.</summary>
    public async Task<SandboxTemplate> LoadAsync(ParseResult p, Context ctx, string defaultTemplate, CancellationToken ct)
    {
        var name = p.GetValue(Template) ?? defaultTemplate;
        return ctx.Remote is { } r && !File.Exists(name) && TemplateValidator.IsValidName(name)
            ? await r.GetTemplateAsync(name, ct).ConfigureAwait(false)
            : TemplateLoader.Load(name);
    }

    /// <summary>The template with command-line overrides applied, validated against the available backends (with a
    /// daemon: validated there).</summary>
    public async Task<SandboxTemplate> ResolveAsync(ParseResult p, Context ctx, string defaultTemplate, CancellationToken ct,
        Func<SandboxTemplate, SandboxTemplate>? adjust = null)
    {
        var t = await LoadAsync(p, ctx, defaultTemplate, ct).ConfigureAwait(false);
        t = adjust?.Invoke(t) ?? t;
        if (p.GetValue(Runtime) is { } rt)
        {
            t = t with { Isolation = t.Isolation with { Runtime = rt } };
        }
        var r = t.Resources;
        r = p.GetValue(Memory) is { } m ? r with { Memory = m } : r;
        r = p.GetValue(Cpus) is { } c ? r with { Cpus = c } : r;
        r = p.GetValue(Pids) is { } pids ? r with { Pids = pids } : r;
        r = p.GetValue(Timeout) is { } to ? r with { Timeout = to } : r;
        r = p.GetValue(OutputLimit) is { } ol ? r with { OutputLimit = ol } : r;
        r = p.GetValue(Disk) is { } d ? r with { Disk = d } : r;
        t = t with { Resources = r };
        if (p.GetValue(WorkspaceSize) is { } ws)
        {
            t = t with { Workspace = t.Workspace with { Size = ws } };
        }
        if (p.GetValue(Env) is { Length: > 0 } envs)
        {
            var env = new Dictionary<string, string>(t.Env);
            foreach (var (k, v) in ParseEnv(envs))
            {
                env[k] = v;
            }
            t = t with { Env = env };
        }
        t = WithNetwork(t, p.GetValue(AllowDomain) ?? [], p.GetValue(Resolve) ?? []);
        TemplateValidator.EnsureValid(t, ctx.ValidationBackends);
        return t;
    }

    /// <summary>Adds <c>--allow-domain</c> rules and <c>--resolve</c> pins to the template's network policy; either
    /// turns a <c>none</c> network into <c>egress</c>.</summary>
    public static SandboxTemplate WithNetwork(SandboxTemplate t, IReadOnlyList<string> domains, IReadOnlyList<string> resolves)
    {
        if (domains.Count == 0 && resolves.Count == 0)
        {
            return t;
        }
        var pins = new List<EgressPin>(t.Network.Resolve);
        foreach (var r in resolves)
        {
            if (!EgressPin.TryParse(r, out var pin))
            {
                throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument,
                    $"--resolve '{r}' is not HOST:PORT:ADDR", "write e.g. --resolve api.example.test:8080:127.0.0.1");
            }
            pins.Add(pin);
        }
        var allow = t.Network.Allow.Concat(domains.Select(AllowRule)).ToList();
        return t with { Network = t.Network with { Mode = NetworkModes.Egress, Allow = allow, Resolve = pins } };
    }

    private static EgressRule AllowRule(string text)
    {
        var colon = text.LastIndexOf(':');
        if (colon < 0)
        {
            return new EgressRule { Domain = text.Trim().TrimEnd('.').ToLowerInvariant() };
        }
        if (!int.TryParse(text.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port))
        {
            throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument,
                $"--allow-domain '{text}' is not DOMAIN or DOMAIN:PORT", "write e.g. --allow-domain api.github.com or --allow-domain api.github.com:443");
        }
        return new EgressRule { Domain = text[..colon].Trim().TrimEnd('.').ToLowerInvariant(), Ports = [port] };
    }

    /// <summary>Parses repeated <c>--env NAME=value</c> options.</summary>
    public static Dictionary<string, string> ParseEnv(IEnumerable<string> items)
    {
        var env = new Dictionary<string, string>();
        foreach (var e in items)
        {
            var eq = e.IndexOf('=');
            if (eq <= 0)
            {
                throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument,
                    $"--env '{e}' is not NAME=value", "write --env NAME=value; host variables are never passed implicitly");
            }
            env[e[..eq]] = e[(eq + 1)..];
        }
        return env;
    }

    public static TimeSpan? ParseTimeout(string? text) => text is null ? null : Quantity.TryParseDuration(text, out var d) ? d
        : throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, $"--timeout '{text}' is not a duration", "write e.g. --timeout 10s");
}
