using System.CommandLine;
using Airlock.Backends.Oci.Cgroups;
using Airlock.Backends.Oci.Runtime;
using Spectre.Console;

namespace Airlock.Cli.Commands;

/// <summary><c>airlock doctor</c>: what this host can enforce, and the command that fixes what is missing.</summary>
internal static class DoctorCommand
{
    private sealed record Check(string Name, bool Ok, string Detail, string? Fix);

    public static Command Create()
    {
        var cmd = new Command("doctor", "Check the host: runtimes, cgroups, user namespaces, seccomp, Landlock, KVM.");
        cmd.SetAction(_ =>
        {
            var checks = Run();
            var table = new Table().AddColumns("CHECK", "STATUS", "DETAIL", "FIX");
            foreach (var c in checks)
            {
                table.AddRow(Markup.Escape(c.Name), c.Ok ? "[green]ok[/]" : "[red]missing[/]", Markup.Escape(c.Detail), c.Ok ? "" : Markup.Escape(c.Fix ?? ""));
            }
            AnsiConsole.Write(table);
            // Exit 1 when the default runtime is missing, or the daemon AIRLOCK_HOST names cannot be used.
            return checks.Any(c => !c.Ok && (c.Name.StartsWith("runtime crun", StringComparison.Ordinal) || c.Name == "daemon")) ? 1 : 0;
        });
        return cmd;
    }

    /// <summary>With AIRLOCK_HOST set: is the daemon there, and does AIRLOCK_TOKEN open it.</summary>
    private static Check DaemonCheck(string host)
    {
        try
        {
            using var client = Airlock.Client.AirlockClient.FromEnvironment()!;
            if (!client.HealthyAsync().GetAwaiter().GetResult())
            {
                return new Check("daemon", false, $"{host} does not answer", "start it: airlock serve --data-dir DIR, or fix AIRLOCK_HOST");
            }
            var templates = client.ListTemplatesAsync().GetAwaiter().GetResult();
            return new Check("daemon", true, $"{host} answers; the token works ({templates.Count} templates)", null);
        }
        catch (Core.AirlockException e)
        {
            return new Check("daemon", false, $"{host}: {e.Message}", e.Remedy ?? "check AIRLOCK_HOST and AIRLOCK_TOKEN");
        }
    }

    private static List<Check> Run()
    {
        var checks = new List<Check>
        {
            new("root", Environment.UserName == "root" || Environment.GetEnvironmentVariable("USER") == "root" || IsRoot(),
                "Airlock mounts workspaces and creates cgroups", "run as root (sudo)"),
        };
        foreach (var (rt, pkg) in new[] { ("crun", "crun"), ("runc", "runc"), ("runsc", "runsc") })
        {
            var path = RuntimeDriver.Find(rt);
            checks.Add(new Check($"runtime {rt}", path is not null, path ?? "not found", path is null ? $"apt-get install -y {pkg}" : null));
        }
        var guest = new[] { Environment.GetEnvironmentVariable("AIRLOCK_GUEST"), Path.Combine(AppContext.BaseDirectory, "airlock-guest") }
            .FirstOrDefault(p => !string.IsNullOrEmpty(p) && File.Exists(p));
        checks.Add(new Check("class oci", RuntimeDriver.Find("crun") is not null, "hardened containers: crun (default), runc, runsc", "apt-get install -y crun"));
        checks.Add(new Check("in-sandbox agent", guest is not null, guest ?? "airlock-guest not found", guest is null ? "./build.sh" : null));
        var server = ServerCommands.FindServer();
        checks.Add(new Check("daemon program", server is not null, server ?? "airlock-server not found (airlock serve, token, audit need it)", server is null ? "./build.sh" : null));
        if (Environment.GetEnvironmentVariable("AIRLOCK_HOST") is { Length: > 0 } host)
        {
            checks.Add(DaemonCheck(host));
        }

        checks.Add(WasmCheck());
        checks.Add(V8Check());

        var layout = CgroupLayout.Detect();
        var mode = layout.Unified ? "v2 (unified)" : layout.HybridUnifiedMount is { } h ? $"v1 hybrid (cgroup2 at {h}; crun runs in a private mount namespace)" : "v1";
        var controllers = layout.Unified
            ? (File.Exists("/sys/fs/cgroup/cgroup.controllers") ? File.ReadAllText("/sys/fs/cgroup/cgroup.controllers").Trim() : "")
            : string.Join(" ", new[] { "memory", "pids", "cpu", "freezer" }.Where(c => Directory.Exists(Path.Combine(layout.Root, c))));
        var hasAll = new[] { "memory", "pids", "cpu" }.All(controllers.Contains);
        checks.Add(new Check("cgroups", hasAll, $"{mode}; controllers: {controllers}", hasAll ? null : "boot with cgroup controllers memory, pids and cpu enabled"));

        var maxUserNs = ReadTrim("/proc/sys/user/max_user_namespaces");
        checks.Add(new Check("user namespaces", maxUserNs is not null && maxUserNs != "0", $"max_user_namespaces={maxUserNs ?? "?"}",
            "sysctl -w user.max_user_namespaces=15000"));

        var seccomp = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("Seccomp:", StringComparison.Ordinal));
        var seccompOk = File.Exists("/proc/sys/kernel/seccomp/actions_avail");
        checks.Add(new Check("seccomp", seccompOk, seccompOk ? "filter mode available: " + ReadTrim("/proc/sys/kernel/seccomp/actions_avail") : "no seccomp filter support",
            seccompOk ? null : "use a kernel built with CONFIG_SECCOMP_FILTER"));

        // landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) answers the ABI version the kernel offers.
        var landlockAbi = LandlockAbi();
        checks.Add(new Check("landlock", landlockAbi > 0, landlockAbi > 0 ? $"ABI {landlockAbi}" : "not enabled in this kernel",
            "boot with lsm=landlock,... (used by later isolation classes)"));

        var kvm = File.Exists("/dev/kvm");
        var kvmOpen = false;
        try
        {
            using var f = File.Open("/dev/kvm", FileMode.Open, FileAccess.ReadWrite);
            kvmOpen = true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        checks.Add(new Check("kvm (microvm class)", kvmOpen,
            !kvm ? "/dev/kvm absent" : kvmOpen ? "/dev/kvm opens; booting a guest is verified by the microvm class, not here (nested hypervisors may refuse)" : "/dev/kvm present but cannot be opened",
            kvmOpen ? null : "enable virtualization (modprobe kvm_intel or kvm_amd); microvm falls back to software emulation"));
        return checks;
    }

    /// <summary>The wasm class: an engine starts (native library loads, pooling allocator reserves its slots).</summary>
    private static Check WasmCheck()
    {
        try
        {
            using var wasm = new Airlock.Backends.Wasm.WasmBackend(Core.Storage.AirlockPaths.FromEnvironment());
            var settings = string.Join(", ", wasm.EngineSettings.Select(s => $"{s.Name}={s.Value}"));
            return new Check("class wasm", true, settings, null);
        }
        catch (Exception e)
        {
            return new Check("class wasm", false, e.Message, "./build.sh (libwasmtime.so ships next to airlock)");
        }
    }

    /// <summary>The v8 class: its worker, the dotnet host that runs it, bubblewrap for the jail, Pyodide for Python.</summary>
    private static Check V8Check()
    {
        using var v8 = new Airlock.Backends.V8.V8Backend(Core.Storage.AirlockPaths.FromEnvironment());
        var worker = File.Exists(Path.Combine(v8.WorkerDirectory, "Airlock.V8Worker.dll"));
        var dotnet = File.Exists(v8.DotnetPath);
        var bwrap = new[] { "/usr/bin/bwrap", "/bin/bwrap" }.Any(File.Exists);
        var missing = new List<string>();
        if (!worker)
        {
            missing.Add("worker (./build.sh)");
        }
        if (!dotnet)
        {
            missing.Add("dotnet host (install the .NET 10 runtime)");
        }
        if (!bwrap)
        {
            missing.Add("bubblewrap (apt-get install -y bubblewrap)");
        }
        var python = v8.PyodideDirectory is { } py ? $"python: pyodide at {py}" : "python: pyodide missing (bash scripts/pyodide.sh)";
        return new Check("class v8", missing.Count == 0, missing.Count == 0 ? $"javascript: worker in {v8.WorkerDirectory}, jailed with bwrap; {python}" : "missing: " + string.Join(", ", missing),
            missing.Count == 0 ? null : string.Join("; ", missing));
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "syscall")]
    private static extern long Syscall(long number, nint attr, nuint size, uint flags);

    private static long LandlockAbi()
    {
        const long landlockCreateRuleset = 444;
        const uint createRulesetVersion = 1;
        return Syscall(landlockCreateRuleset, 0, 0, createRulesetVersion);
    }

    private static bool IsRoot()
    {
        var status = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal));
        return status?.Split('\t', StringSplitOptions.RemoveEmptyEntries).ElementAtOrDefault(2) == "0";
    }

    private static string? ReadTrim(string path)
    {
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
