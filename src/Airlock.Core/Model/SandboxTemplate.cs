namespace Airlock.Core.Model;

/// <summary>
/// Reusable blueprint of a sandbox: which boundary serves it and what the code inside may use. Every field
/// defaults to the strictest setting: no network, nothing from the host environment, no host paths but the
/// read-only system directories, no capabilities, ephemeral.
/// </summary>
public sealed record SandboxTemplate
{
    /// <summary>Template name: lowercase letters, digits and '-', 1–63 characters.</summary>
    public string Name { get; init; } = "";

    /// <summary>One line for people choosing a template.</summary>
    public string? Description { get; init; }

    /// <summary>Which isolation class and runtime serves the sandbox.</summary>
    public IsolationSpec Isolation { get; init; } = new();

    /// <summary>Default command for <c>airlock run</c> when none is given, and the interpreter for code snippets.</summary>
    public IReadOnlyList<string>? Command { get; init; }

    /// <summary>Root filesystem: read-only host system directories plus a synthesized /etc.</summary>
    public RootFsSpec RootFs { get; init; } = new();

    /// <summary>The per-sandbox writable directory.</summary>
    public WorkspaceSpec Workspace { get; init; } = new();

    /// <summary>Host directories (or files) bound into the sandbox, read-only unless said otherwise: what a
    /// third-party tool is explicitly given (e.g. a project directory). None by default.</summary>
    public IReadOnlyList<MountSpec> Mounts { get; init; } = [];

    /// <summary>Per-sandbox limits.</summary>
    public ResourceSpec Resources { get; init; } = new();

    /// <summary>The complete environment of processes in the sandbox; nothing is inherited from the host. Starts from
    /// fixed values (PATH, HOME=/workspace, LANG, TMPDIR); a template's entries are laid over them.</summary>
    public IReadOnlyDictionary<string, string> Env { get; init; } = DefaultEnv;

    /// <summary>Constants every sandbox starts with; none comes from the host.</summary>
    public static IReadOnlyDictionary<string, string> DefaultEnv { get; } = new Dictionary<string, string>
    {
        ["PATH"] = "/usr/local/bin:/usr/bin:/bin",
        ["HOME"] = "/workspace",
        ["LANG"] = "C.UTF-8",
        ["TMPDIR"] = "/tmp",
    };

    /// <summary>Network policy.</summary>
    public NetworkSpec Network { get; init; } = new();

    /// <summary>Whether a claim may add to (<c>Allowed</c>) or override (<c>Overrides</c>) the environment;
    /// <c>Disallowed</c> (default) rejects a claim that sets any variable. Same values as agent-sandbox.</summary>
    public string EnvVarsInjectionPolicy { get; init; } = EnvVarsInjectionPolicies.Disallowed;

    /// <summary>How long sandboxes of this template live when a daemon manages them.</summary>
    public LifetimeSpec Lifetime { get; init; } = new();
}

public static class EnvVarsInjectionPolicies
{
    public const string Allowed = "Allowed";
    public const string Overrides = "Overrides";
    public const string Disallowed = "Disallowed";
    public static readonly string[] All = [Allowed, Overrides, Disallowed];
}

/// <summary>Lifetime limits applied by the control plane (<c>airlock serve</c>).</summary>
public sealed record LifetimeSpec
{
    /// <summary>Destroy a sandbox when no exec or file operation has touched it for this long (e.g. <c>10m</c>);
    /// null: never. A suspended sandbox is not idle-expired.</summary>
    public string? IdleTimeout { get; init; }

    /// <summary>Destroy a sandbox this long after it was created or claimed (e.g. <c>1h</c>); null: never.</summary>
    public string? MaxLifetime { get; init; }
}

/// <summary>Isolation class and the runtime within it.</summary>
public sealed record IsolationSpec
{
    /// <summary><c>oci</c> (default), <c>wasm</c> (Wasmtime) or <c>v8</c> (V8 isolates, Pyodide); <c>microvm</c> is planned.</summary>
    public string Class { get; init; } = IsolationClasses.Oci;

    /// <summary>For <c>oci</c>: <c>crun</c> (default), <c>runc</c> or <c>runsc</c> (gVisor).</summary>
    public string Runtime { get; init; } = OciRuntimes.Crun;

    /// <summary>Map the sandbox's users to an unprivileged host uid range. <c>auto</c> uses one wherever the runtime
    /// supports it (crun, runc); <c>required</c> makes a runtime without support a validation error.</summary>
    public string UserNamespace { get; init; } = UserNamespaceModes.Auto;
}

public static class IsolationClasses
{
    public const string Oci = "oci";
    public const string MicroVm = "microvm";
    public const string Wasm = "wasm";
    public const string V8 = "v8";
    public static readonly string[] All = [Oci, MicroVm, Wasm, V8];
}

public static class OciRuntimes
{
    public const string Crun = "crun";
    public const string Runc = "runc";
    public const string Runsc = "runsc";
    public static readonly string[] All = [Crun, Runc, Runsc];
}

public static class UserNamespaceModes
{
    public const string Auto = "auto";
    public const string Required = "required";
    public const string Off = "off";
    public static readonly string[] All = [Auto, Required, Off];
}

/// <summary>The sandbox's root: an empty read-only root with host system directories bound read-only into it.</summary>
public sealed record RootFsSpec
{
    /// <summary>Host paths bound read-only at the same place. Symlinks among them (merged /usr) are recreated as
    /// symlinks. Only system directories are allowed: never /etc, /root, /home, /var, /proc, /sys, /dev, /run.</summary>
    public IReadOnlyList<string> HostPaths { get; init; } = ["/usr", "/bin", "/lib", "/lib64", "/sbin"];

    /// <summary>Hostname inside the sandbox.</summary>
    public string Hostname { get; init; } = "sandbox";
}

/// <summary>The writable per-sandbox directory, mounted at <see cref="Path"/> and served by the file API.</summary>
public sealed record WorkspaceSpec
{
    /// <summary>Absolute mount point inside the sandbox.</summary>
    public string Path { get; init; } = "/workspace";

    /// <summary>Size cap (e.g. <c>256Mi</c>); writes beyond it fail with ENOSPC.</summary>
    public string Size { get; init; } = "256Mi";

    /// <summary><c>read-write</c> (default), <c>read-only</c> or <c>none</c> (no workspace at all). The <c>wasm</c>
    /// class honours all three (a module sees no filesystem without a grant); the <c>oci</c> class only
    /// <c>read-write</c>.</summary>
    public string Access { get; init; } = WorkspaceAccessModes.ReadWrite;
}

/// <summary>One host path bound into the sandbox.</summary>
public sealed record MountSpec
{
    /// <summary>Absolute host path (a directory or a file). Never /, /etc, /root, /proc, /sys, /dev, /run, /boot.</summary>
    public string Host { get; init; } = "";

    /// <summary>Absolute path inside the sandbox, outside the system directories, /tmp, /.airlock and the workspace.</summary>
    public string Path { get; init; } = "";

    /// <summary>Read-only (default). A writable mount writes as the sandbox's mapped user (host uid 0x7000FFFE with a
    /// user namespace), so the host directory must allow that user.</summary>
    public bool ReadOnly { get; init; } = true;
}

public static class WorkspaceAccessModes
{
    public const string ReadWrite = "read-write";
    public const string ReadOnly = "read-only";
    public const string None = "none";
    public static readonly string[] All = [ReadWrite, ReadOnly, None];
}

/// <summary>Limits, each enforced by the kernel (cgroups, rlimits, tmpfs size) or by the in-sandbox agent.</summary>
public sealed record ResourceSpec
{
    /// <summary>Memory limit including tmpfs pages written by the sandbox (e.g. <c>512Mi</c>).</summary>
    public string Memory { get; init; } = "512Mi";

    /// <summary>CPU quota in cores (e.g. <c>0.5</c>, <c>1</c>).</summary>
    public double Cpus { get; init; } = 1;

    /// <summary>Maximum number of processes and threads.</summary>
    public int Pids { get; init; } = 128;

    /// <summary>Size cap of the scratch /tmp.</summary>
    public string Disk { get; init; } = "64Mi";

    /// <summary>RLIMIT_NOFILE.</summary>
    public int OpenFiles { get; init; } = 1024;

    /// <summary>Wall-clock limit of one exec (e.g. <c>30s</c>, <c>2m</c>).</summary>
    public string Timeout { get; init; } = "30s";

    /// <summary>Cap on stdout+stderr of one exec; output past it is dropped and the process killed.</summary>
    public string OutputLimit { get; init; } = "1Mi";
}
