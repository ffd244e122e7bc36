using System.Text.Json;
using System.Text.Json.Nodes;

namespace Airlock.Backends.Oci.Bundle;

/// <summary>Renders an OCI runtime-spec config.json for a sandbox: every namespace, no capabilities,
/// noNewPrivileges, read-only root, masked /proc paths, rlimits, cgroup limits and the seccomp filter.</summary>
public static class OciConfig
{
    public const int UserNamespaceSize = 65536;
    private const long CpuPeriodUs = 100_000;

    /// <summary>/proc paths that leak host information or allow host actions (Docker's list).</summary>
    public static readonly string[] MaskedPaths =
    [
        "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/proc/sysrq-trigger", "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ];

    public static readonly string[] ReadonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"];

    public static JsonObject Build(BundleSpec s)
    {
        var namespaces = new JsonArray();
        foreach (var ns in new[] { "pid", "network", "ipc", "uts", "mount" })
        {
            namespaces.Add((JsonNode)new JsonObject { ["type"] = ns });
        }
        var linux = new JsonObject
        {
            ["namespaces"] = namespaces,
            ["cgroupsPath"] = s.CgroupsPath,
            ["resources"] = new JsonObject
            {
                ["devices"] = new JsonArray(new JsonObject { ["allow"] = false, ["access"] = "rwm" }),
                // No memory limit here: Airlock's parent cgroup holds it, so an OOM kill is counted in a cgroup
                // that outlives the runtime's cleanup (and gVisor's sentry is bounded together with the workload).
                ["cpu"] = new JsonObject { ["quota"] = (long)Math.Ceiling(s.Cpus * CpuPeriodUs), ["period"] = CpuPeriodUs },
                ["pids"] = new JsonObject { ["limit"] = s.Pids },
            },
            ["seccomp"] = SeccompProfile.Build(s.SeccompErrnoRetHonoured),
            ["maskedPaths"] = new JsonArray(MaskedPaths.Select(p => (JsonNode)JsonValue.Create(p)).ToArray()),
            ["readonlyPaths"] = new JsonArray(ReadonlyPaths.Select(p => (JsonNode)JsonValue.Create(p)).ToArray()),
        };
        if (s.UserNamespaceHostId is { } hostId)
        {
            namespaces.Add((JsonNode)new JsonObject { ["type"] = "user" });
            linux["uidMappings"] = new JsonArray(Mapping(hostId));
            linux["gidMappings"] = new JsonArray(Mapping(hostId));
        }

        return new JsonObject
        {
            ["ociVersion"] = "1.0.2",
            ["process"] = new JsonObject
            {
                ["terminal"] = false,
                ["user"] = new JsonObject { ["uid"] = s.SandboxUid, ["gid"] = s.SandboxUid, ["additionalGids"] = new JsonArray(s.SandboxUid) },
                ["args"] = Strings(s.Args),
                ["env"] = Strings(s.Env),
                ["cwd"] = s.WorkspacePath,
                ["capabilities"] = new JsonObject
                {
                    ["bounding"] = new JsonArray(),
                    ["effective"] = new JsonArray(),
                    ["inheritable"] = new JsonArray(),
                    ["permitted"] = new JsonArray(),
                    ["ambient"] = new JsonArray(),
                },
                ["rlimits"] = new JsonArray(
                    Rlimit("RLIMIT_NOFILE", s.OpenFiles),
                    Rlimit("RLIMIT_CORE", 0)),
                ["noNewPrivileges"] = true,
            },
            ["root"] = new JsonObject { ["path"] = s.RootFs, ["readonly"] = true },
            ["hostname"] = s.Hostname,
            ["mounts"] = Mounts(s),
            ["linux"] = linux,
        };
    }

    public static void Write(string bundleDir, BundleSpec spec)
    {
        var tmp = Path.Combine(bundleDir, ".config.json.tmp");
        using (var f = File.Create(tmp))
        using (var w = new Utf8JsonWriter(f))
        {
            Build(spec).WriteTo(w);
        }
        File.Move(tmp, Path.Combine(bundleDir, "config.json"), overwrite: true);
    }

    private static JsonArray Mounts(BundleSpec s)
    {
        var mounts = new JsonArray(
        [
            Mount("/proc", "proc", "proc", "nosuid", "noexec", "nodev"),
            Mount("/dev", "tmpfs", "tmpfs", "nosuid", "noexec", "strictatime", "mode=755", "size=64k"),
            Mount("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=64m"),
            Mount("/etc", "bind", s.EtcDir, "rbind", "ro", "nosuid", "nodev", "noexec"),
        ]);
        foreach (var dir in s.HostDirBinds)
        {
            mounts.Add((JsonNode)Mount(dir, "bind", dir, "rbind", "ro", "nosuid", "nodev"));
        }
        mounts.Add((JsonNode)Mount("/tmp", "bind", s.TmpSource, "rbind", "rw", "nosuid", "nodev"));
        mounts.Add((JsonNode)Mount(s.WorkspacePath, "bind", s.WorkspaceSource, "rbind", "rw", "nosuid", "nodev"));
        foreach (var (host, path, readOnly) in s.ExtraMounts)
        {
            mounts.Add((JsonNode)Mount(path, "bind", host, "rbind", readOnly ? "ro" : "rw", "nosuid", "nodev"));
        }
        mounts.Add((JsonNode)Mount(GuestPaths.Binary, "bind", s.GuestBinary, "bind", "ro", "nosuid", "nodev"));
        mounts.Add((JsonNode)Mount(GuestPaths.RunDir, "bind", s.RunDir, "bind", "rw", "nosuid", "nodev", "noexec"));
        return mounts;
    }

    private static JsonObject Mount(string destination, string type, string source, params string[] options) => new()
    {
        ["destination"] = destination,
        ["type"] = type,
        ["source"] = source,
        ["options"] = Strings(options),
    };

    private static JsonObject Mapping(uint hostId) => new() { ["containerID"] = 0, ["hostID"] = hostId, ["size"] = UserNamespaceSize };

    private static JsonObject Rlimit(string type, long value) => new() { ["type"] = type, ["hard"] = value, ["soft"] = value };

    private static JsonArray Strings(IEnumerable<string> items) => new(items.Select(i => (JsonNode)JsonValue.Create(i)).ToArray());
}

/// <summary>Fixed paths inside every OCI sandbox.</summary>
public static class GuestPaths
{
    public const string Dir = "/.airlock";
    public const string Binary = "/.airlock/guest";
    public const string RunDir = "/.airlock/run";
    public const string Socket = Guest.Protocol.Wire.GuestSocketPath;
}
