using System.Text.Json.Nodes;
using Airlock.Backends.Oci.Bundle;

namespace Airlock.Backends.Oci.Tests;

/// <summary>The generated OCI config, checked field by field (pure logic; the containment suite checks the effect).</summary>
public sealed class BundleTests
{
    private static BundleSpec Spec(uint? userNs = 0x7000_0000, bool errnoRet = true) => new()
    {
        RootFs = "/state/rootfs",
        EtcDir = "/state/etc",
        GuestBinary = "/opt/airlock-guest",
        WorkspaceSource = "/state/ws",
        TmpSource = "/state/tmp",
        RunDir = "/state/run",
        WorkspacePath = "/workspace",
        HostDirBinds = ["/usr"],
        Args = ["/.airlock/guest", "stdio"],
        Env = ["PATH=/usr/bin"],
        Hostname = "sandbox",
        CgroupsPath = "/airlock/sbx-000000000000/ctr",
        Cpus = 0.5,
        Pids = 32,
        OpenFiles = 100,
        UserNamespaceHostId = userNs,
        SeccompErrnoRetHonoured = errnoRet,
    };

    [Fact]
    public void ProcessIsUnprivileged()
    {
        var c = OciConfig.Build(Spec());
        var p = c["process"]!;
        Assert.Equal(65534u, p["user"]!["uid"]!.GetValue<uint>());
        Assert.True(p["noNewPrivileges"]!.GetValue<bool>());
        foreach (var set in new[] { "bounding", "effective", "inheritable", "permitted", "ambient" })
        {
            Assert.Empty(p["capabilities"]![set]!.AsArray());
        }
        Assert.True(c["root"]!["readonly"]!.GetValue<bool>());
        var rlimits = p["rlimits"]!.AsArray().ToDictionary(r => r!["type"]!.GetValue<string>(), r => r!["hard"]!.GetValue<long>());
        Assert.Equal(100, rlimits["RLIMIT_NOFILE"]);
        Assert.Equal(0, rlimits["RLIMIT_CORE"]);
    }

    [Fact]
    public void EveryNamespaceAndUserMappingWhenAsked()
    {
        var types = (JsonNode c) => c["linux"]!["namespaces"]!.AsArray().Select(n => n!["type"]!.GetValue<string>()).Order().ToArray();
        var with = OciConfig.Build(Spec());
        Assert.Equal(["ipc", "mount", "network", "pid", "user", "uts"], types(with));
        var map = with["linux"]!["uidMappings"]![0]!;
        Assert.Equal(0x7000_0000u, map["hostID"]!.GetValue<uint>());
        Assert.Equal(0, map["containerID"]!.GetValue<int>());
        var without = OciConfig.Build(Spec(userNs: null));
        Assert.Equal(["ipc", "mount", "network", "pid", "uts"], types(without));
        Assert.Null(without["linux"]!["uidMappings"]);
    }

    [Fact]
    public void HostEtcIsNeverMountedAndWritableMountsAreTheSandboxesOwn()
    {
        var mounts = OciConfig.Build(Spec())["mounts"]!.AsArray();
        var etc = mounts.Single(m => m!["destination"]!.GetValue<string>() == "/etc")!;
        Assert.Equal("/state/etc", etc["source"]!.GetValue<string>());
        Assert.Contains("ro", etc["options"]!.AsArray().Select(o => o!.GetValue<string>()));
        foreach (var m in mounts)
        {
            var options = m!["options"]!.AsArray().Select(o => o!.GetValue<string>()).ToArray();
            var source = m["source"]!.GetValue<string>();
            Assert.NotEqual("/etc", source);
            if (options.Contains("rw"))
            {
                Assert.StartsWith("/state/", source);
                Assert.Contains("nosuid", options);
            }
        }
    }

    [Fact]
    public void SeccompDeniesByDefaultAndNeverAllowsEscapeSyscalls()
    {
        var seccomp = OciConfig.Build(Spec())["linux"]!["seccomp"]!;
        Assert.Equal("SCMP_ACT_ERRNO", seccomp["defaultAction"]!.GetValue<string>());
        var allowed = seccomp["syscalls"]!.AsArray()
            .Where(r => r!["action"]!.GetValue<string>() == "SCMP_ACT_ALLOW" && r["args"] is null)
            .SelectMany(r => r!["names"]!.AsArray().Select(n => n!.GetValue<string>()))
            .ToHashSet();
        foreach (var bad in new[] { "mount", "umount2", "ptrace", "bpf", "keyctl", "userfaultfd", "perf_event_open", "kexec_load",
                     "io_uring_setup", "unshare", "setns", "clone", "clone3", "socket", "init_module", "open_by_handle_at", "pivot_root" })
        {
            Assert.DoesNotContain(bad, allowed);
        }
        var clone = seccomp["syscalls"]!.AsArray().Single(r => r!["names"]![0]!.GetValue<string>() == "clone")!;
        Assert.Equal("SCMP_CMP_MASKED_EQ", clone["args"]![0]!["op"]!.GetValue<string>());
        Assert.Equal(0x10000000UL, clone["args"]![0]!["value"]!.GetValue<ulong>() & 0x10000000UL);
        var clone3 = seccomp["syscalls"]!.AsArray().Single(r => r!["names"]![0]!.GetValue<string>() == "clone3")!;
        Assert.Equal(38u, clone3["errnoRet"]!.GetValue<uint>());
        // gVisor ignores errnoRet; there clone3 goes to the Sentry, which has no clone3 and answers ENOSYS itself.
        var gvisor = OciConfig.Build(Spec(errnoRet: false))["linux"]!["seccomp"]!["syscalls"]!.AsArray()
            .Single(r => r!["names"]![0]!.GetValue<string>() == "clone3")!;
        Assert.Equal("SCMP_ACT_ALLOW", gvisor["action"]!.GetValue<string>());
    }

    [Fact]
    public void AllowAndDenyListsDoNotOverlap() =>
        Assert.Empty(SeccompProfile.Allowed.Intersect(SeccompProfile.AlwaysDenied));
}
