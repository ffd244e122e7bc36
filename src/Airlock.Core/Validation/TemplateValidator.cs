using System.Text.RegularExpressions;
using Airlock.Core.Backends;
using Airlock.Core.Model;
using Airlock.Core.Util;

namespace Airlock.Core.Validation;

/// <summary>Validates a <see cref="SandboxTemplate"/> and returns every error at once. Fields a chosen isolation
/// class or runtime cannot enforce are errors too: the backend's <see cref="IIsolationBackend.CheckEnforceable"/>
/// says which.</summary>
public static partial class TemplateValidator
{
    /// <summary>Host paths a template may never bind: they hold secrets, host state or kernel interfaces.</summary>
    private static readonly string[] ForbiddenHostPrefixes =
        ["/etc", "/root", "/home", "/var", "/proc", "/sys", "/dev", "/run", "/boot", "/tmp", "/mnt", "/media", "/srv", "/opt"];

    private const long MinMemory = 16L << 20;
    private const long MaxOutputLimit = 1L << 30;

    [GeneratedRegex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex EnvNamePattern();

    /// <summary>Whether <paramref name="name"/> is a valid resource name (a DNS label, as Kubernetes names).</summary>
    public static bool IsValidName(string? name) => NamePattern().IsMatch(name ?? "");

    public static IReadOnlyList<ValidationError> Validate(SandboxTemplate t, IEnumerable<IIsolationBackend>? backends = null)
    {
        var errors = new List<ValidationError>();
        void Add(string field, string reason) => errors.Add(new ValidationError(field, reason));

        if (!NamePattern().IsMatch(t.Name ?? ""))
        {
            Add("name", "must be 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit");
        }

        ValidateIsolation(t.Isolation, Add);

        if (t.Command is { } cmd && (cmd.Count == 0 || cmd.Any(string.IsNullOrEmpty) || cmd.Any(a => a.Contains('\0'))))
        {
            Add("command", "must be a non-empty list of non-empty arguments without NUL characters");
        }

        for (var i = 0; i < t.RootFs.HostPaths.Count; i++)
        {
            var p = t.RootFs.HostPaths[i];
            var field = $"rootFs.hostPaths[{i}]";
            if (string.IsNullOrEmpty(p) || !p.StartsWith('/') || p.Contains("/..") || p.Contains("/./") || p.Contains('\0'))
            {
                Add(field, $"'{p}' must be an absolute, normalized path");
            }
            else if (p == "/" || ForbiddenHostPrefixes.Any(f => p == f || p.StartsWith(f + "/", StringComparison.Ordinal)))
            {
                Add(field, $"'{p}' may not be exposed: only system directories such as /usr, /bin, /lib may be bound (the sandbox gets a synthesized /etc)");
            }
        }
        if (!NamePattern().IsMatch(t.RootFs.Hostname ?? ""))
        {
            Add("rootFs.hostname", "must be 1-63 lowercase letters, digits or '-'");
        }

        var ws = t.Workspace.Path;
        if (string.IsNullOrEmpty(ws) || !ws.StartsWith('/') || ws == "/" || ws.Contains("..") || ws.Contains('\0'))
        {
            Add("workspace.path", $"'{ws}' must be an absolute path other than /, without '..'");
        }
        else if (ws.StartsWith("/usr", StringComparison.Ordinal) || ws.StartsWith("/etc", StringComparison.Ordinal)
                 || ws.StartsWith("/proc", StringComparison.Ordinal) || ws.StartsWith("/dev", StringComparison.Ordinal)
                 || ws.StartsWith("/.airlock", StringComparison.Ordinal) || ws == "/tmp")
        {
            Add("workspace.path", $"'{ws}' collides with a system mount");
        }
        Size("workspace.size", t.Workspace.Size, 1L << 20, 64L << 30, Add);
        ValidateMounts(t, Add);
        if (!WorkspaceAccessModes.All.Contains(t.Workspace.Access))
        {
            Add("workspace.access", $"'{t.Workspace.Access}' must be one of {string.Join(", ", WorkspaceAccessModes.All)}");
        }

        var r = t.Resources;
        Size("resources.memory", r.Memory, MinMemory, 1L << 40, Add);
        Size("resources.disk", r.Disk, 1L << 20, 64L << 30, Add);
        Size("resources.outputLimit", r.OutputLimit, 1, MaxOutputLimit, Add);
        if (!(r.Cpus >= 0.01 && r.Cpus <= Environment.ProcessorCount * 64 && double.IsFinite(r.Cpus)))
        {
            Add("resources.cpus", $"{r.Cpus} must be a number of cores between 0.01 and {Environment.ProcessorCount * 64}");
        }
        if (r.Pids is < 4 or > 65536)
        {
            Add("resources.pids", $"{r.Pids} must be between 4 (the agent needs a few) and 65536");
        }
        if (r.OpenFiles is < 16 or > 1 << 20)
        {
            Add("resources.openFiles", $"{r.OpenFiles} must be between 16 and 1048576");
        }
        if (!Quantity.TryParseDuration(r.Timeout, out var timeout))
        {
            Add("resources.timeout", $"'{r.Timeout}' is not a duration such as 500ms, 10s or 2m");
        }
        else if (timeout < TimeSpan.FromMilliseconds(10) || timeout > TimeSpan.FromHours(24))
        {
            Add("resources.timeout", $"'{r.Timeout}' must be between 10ms and 24h");
        }

        foreach (var (name, value) in t.Env)
        {
            if (!EnvNamePattern().IsMatch(name ?? ""))
            {
                Add($"env.{name}", "name must be letters, digits and '_', not starting with a digit");
            }
            if (value is null || value.Contains('\0'))
            {
                Add($"env.{name}", "value must be a string without NUL characters");
            }
        }

        foreach (var e in NetworkValidator.Validate(t.Network))
        {
            Add(e.Field, e.Reason);
        }
        foreach (var s in t.Network.Secrets)
        {
            if (s?.Env is { } secretEnv && t.Env.ContainsKey(secretEnv))
            {
                Add($"env.{secretEnv}", $"is also the placeholder variable of network secret '{s.Name}'");
            }
        }

        if (!EnvVarsInjectionPolicies.All.Contains(t.EnvVarsInjectionPolicy))
        {
            Add("envVarsInjectionPolicy", $"'{t.EnvVarsInjectionPolicy}' must be one of {string.Join(", ", EnvVarsInjectionPolicies.All)}");
        }
        Lifetime("lifetime.idleTimeout", t.Lifetime.IdleTimeout, Add);
        Lifetime("lifetime.maxLifetime", t.Lifetime.MaxLifetime, Add);

        if (backends is not null && errors.Count == 0)
        {
            // Lazily: a caller may build a backend only when it is asked for (the CLI starts no Wasmtime engine or V8
            // backend to validate an oci template).
            backends = backends.SelectMany(b => b is BackendSet set ? set.Members : [b]);
            var backend = backends.FirstOrDefault(b => b.IsolationClass == t.Isolation.Class);
            if (backend is null)
            {
                Add("isolation.class", $"'{t.Isolation.Class}' is not available in this build; available: {string.Join(", ", backends.Select(b => b.IsolationClass))}");
            }
            else
            {
                backend.CheckEnforceable(t, Add);
            }
        }
        return errors;
    }

    /// <summary>Throws <see cref="ValidationException"/> listing every error.</summary>
    public static void EnsureValid(SandboxTemplate t, IEnumerable<IIsolationBackend>? backends = null)
    {
        var errors = Validate(t, backends);
        if (errors.Count > 0)
        {
            throw new ValidationException($"template '{t.Name}'", errors);
        }
    }

    private static void ValidateIsolation(IsolationSpec iso, Action<string, string> add)
    {
        if (!IsolationClasses.All.Contains(iso.Class))
        {
            add("isolation.class", $"'{iso.Class}' is not an isolation class; use one of {string.Join(", ", IsolationClasses.All)}");
        }
        else if (iso.Class == IsolationClasses.Oci && !OciRuntimes.All.Contains(iso.Runtime))
        {
            add("isolation.runtime", $"'{iso.Runtime}' is not an OCI runtime Airlock drives; use one of {string.Join(", ", OciRuntimes.All)}");
        }
        if (!UserNamespaceModes.All.Contains(iso.UserNamespace))
        {
            add("isolation.userNamespace", $"'{iso.UserNamespace}' must be one of {string.Join(", ", UserNamespaceModes.All)}");
        }
    }

    /// <summary>Host paths that hold the host's secrets or its live state: never bound into a sandbox.</summary>
    private static readonly string[] SecretHostPrefixes = ["/etc", "/root", "/proc", "/sys", "/dev", "/run", "/boot", "/var/run"];

    /// <summary>Sandbox paths that belong to the sandbox's own layout.</summary>
    private static readonly string[] ReservedSandboxPrefixes = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc", "/proc", "/dev", "/sys", "/tmp", "/.airlock"];

    private static bool Normalized(string? p) => !string.IsNullOrEmpty(p) && p.StartsWith('/') && p.Length > 1 && !p.EndsWith('/')
        && !p.Contains("//") && !p.Split('/').Any(s => s is "." or "..") && !p.Contains('\0');

    private static bool Under(string p, string prefix) => p == prefix || p.StartsWith(prefix + "/", StringComparison.Ordinal);

    /// <summary>Why a host path may not be bound into a sandbox, or null. Backends ask again with the path's
    /// resolved form (symlinks followed) before they bind it.</summary>
    public static string? MountHostProblem(string? host) =>
        !Normalized(host) ? $"'{host}' must be an absolute, normalized path other than /"
        : SecretHostPrefixes.FirstOrDefault(s => Under(host!, s)) is { } secret
            ? $"'{host}' is under {secret}, which holds the host's secrets or live state and is never bound into a sandbox"
            : null;

    private static void ValidateMounts(SandboxTemplate t, Action<string, string> add)
    {
        var seen = new HashSet<string>();
        for (var i = 0; i < t.Mounts.Count; i++)
        {
            var m = t.Mounts[i];
            var f = $"mounts[{i}]";
            if (m is null)
            {
                add(f, "must be {host, path, readOnly}");
                continue;
            }
            if (MountHostProblem(m.Host) is { } problem)
            {
                add(f + ".host", problem);
            }
            if (!Normalized(m.Path))
            {
                add(f + ".path", $"'{m.Path}' must be an absolute, normalized path other than /");
            }
            else if (ReservedSandboxPrefixes.FirstOrDefault(s => Under(m.Path, s)) is { } reserved)
            {
                add(f + ".path", $"'{m.Path}' is under {reserved}, which the sandbox's own layout uses");
            }
            else if (Under(m.Path, t.Workspace.Path) || Under(t.Workspace.Path, m.Path))
            {
                add(f + ".path", $"'{m.Path}' overlaps the workspace ({t.Workspace.Path})");
            }
            else if (seen.FirstOrDefault(o => Under(m.Path, o) || Under(o, m.Path)) is { } other)
            {
                // A mount point inside another bind mount would be created in the host's directory.
                add(f + ".path", $"'{m.Path}' overlaps the mount at '{other}'");
            }
            else
            {
                seen.Add(m.Path);
            }
        }
    }

    private static void Lifetime(string field, string? value, Action<string, string> add)
    {
        if (value is null)
        {
            return;
        }
        if (!Quantity.TryParseDuration(value, out var d))
        {
            add(field, $"'{value}' is not a duration such as 30s, 10m or 1h");
        }
        else if (d < TimeSpan.FromSeconds(1) || d > TimeSpan.FromDays(30))
        {
            add(field, $"'{value}' must be between 1s and 30d");
        }
    }

    private static void Size(string field, string? value, long min, long max, Action<string, string> add)
    {
        if (!Quantity.TryParseBytes(value, out var bytes))
        {
            add(field, $"'{value}' is not a size such as 256Mi or 1G");
        }
        else if (bytes < min || bytes > max)
        {
            add(field, $"'{value}' must be between {Quantity.FormatBytes(min)} and {Quantity.FormatBytes(max)}");
        }
    }
}
