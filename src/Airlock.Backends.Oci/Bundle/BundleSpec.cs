namespace Airlock.Backends.Oci.Bundle;

/// <summary>Everything needed to write one sandbox's OCI config.json. Paths are host paths unless named otherwise.</summary>
public sealed record BundleSpec
{
    public required string RootFs { get; init; }
    public required string EtcDir { get; init; }
    public required string GuestBinary { get; init; }
    public required string WorkspaceSource { get; init; }
    public required string TmpSource { get; init; }
    public required string RunDir { get; init; }
    public required string WorkspacePath { get; init; }
    public required IReadOnlyList<string> HostDirBinds { get; init; }

    /// <summary>The template's extra mounts (host path, path inside, read-only).</summary>
    public IReadOnlyList<(string Host, string Path, bool ReadOnly)> ExtraMounts { get; init; } = [];
    public required IReadOnlyList<string> Args { get; init; }
    public required IReadOnlyList<string> Env { get; init; }
    public required string Hostname { get; init; }
    public required string CgroupsPath { get; init; }
    public required double Cpus { get; init; }
    public required int Pids { get; init; }
    public required int OpenFiles { get; init; }

    /// <summary>First host uid/gid of the sandbox's user namespace, or null to run without one.</summary>
    public uint? UserNamespaceHostId { get; init; }

    /// <summary>Whether the runtime honours a seccomp rule's errnoRet (gVisor 2022 does not).</summary>
    public bool SeccompErrnoRetHonoured { get; init; } = true;

    /// <summary>The uid and gid code runs as inside the sandbox.</summary>
    public uint SandboxUid { get; init; } = 65534;
}
