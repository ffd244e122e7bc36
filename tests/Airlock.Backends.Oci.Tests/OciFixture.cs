using System.Text;
using Airlock.Core.Backends;
using Airlock.Core.Model;
using Airlock.Core.Storage;
using Airlock.Core.Templates;
using Airlock.Egress.Gateway;
using Airlock.Egress.Proxy;
using Airlock.Guest.Protocol;

namespace Airlock.Backends.Oci.Tests;

/// <summary>A real OCI backend over a private state directory, using the NativeAOT guest from artifacts/bin.</summary>
public sealed class OciFixture : IDisposable
{
    public OciFixture()
    {
        Home = Directory.CreateTempSubdirectory("airlock-oci-test-").FullName;
        Store = new SandboxStore(new AirlockPaths(Home));
        Backend = new OciBackend(Store, new OciOptions(GuestBinary: Repo.Artifact("airlock-guest"),
            Egress: new EgressGateway(new EgressGatewayOptions { Audit = EgressEvents.Enqueue })));
    }

    /// <summary>What the egress proxies of this fixture's sandboxes decided.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<EgressEvent> EgressEvents { get; } = new();

    public string Home { get; }
    public SandboxStore Store { get; }
    public OciBackend Backend { get; }

    public static TheoryData<string> Runtimes => new() { OciRuntimes.Crun, OciRuntimes.Runc, OciRuntimes.Runsc };

    public static SandboxTemplate Shell(string runtime, Func<ResourceSpec, ResourceSpec>? limits = null) => BuiltinTemplates.Shell with
    {
        Isolation = new IsolationSpec { Runtime = runtime },
        Resources = limits is null ? BuiltinTemplates.Shell.Resources with { Timeout = "20s" } : limits(BuiltinTemplates.Shell.Resources with { Timeout = "20s" }),
    };

    public async Task<Outcome> RunAsync(SandboxTemplate t, params string[] argv) => await RunAsync(t, new ExecSpec(argv));

    public async Task<Outcome> RunAsync(SandboxTemplate t, ExecSpec spec, Stream? stdin = null)
    {
        var stdout = new MemoryStream();
        var stderr = new MemoryStream();
        var r = await Backend.RunAsync(t, spec, ExecIo.Capture(stdout, stderr, stdin), CancellationToken.None);
        return new Outcome(r.SandboxId, r.Result, Encoding.UTF8.GetString(stdout.ToArray()), Encoding.UTF8.GetString(stderr.ToArray()));
    }

    public async Task<Outcome> ExecAsync(SandboxRecord s, params string[] argv)
    {
        var stdout = new MemoryStream();
        var stderr = new MemoryStream();
        var r = await Backend.ExecAsync(s, new ExecSpec(argv), ExecIo.Capture(stdout, stderr), CancellationToken.None);
        return new Outcome(s.Id, r, Encoding.UTF8.GetString(stdout.ToArray()), Encoding.UTF8.GetString(stderr.ToArray()));
    }

    /// <summary>Everything a sandbox could leave on the host, for teardown assertions.</summary>
    public static IReadOnlyList<string> Leftovers(string home, string id)
    {
        var found = new List<string>();
        if (Directory.Exists(Path.Combine(home, "sandboxes", id)))
        {
            found.Add("sandbox dir");
        }
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            if (line.Contains(id, StringComparison.Ordinal))
            {
                found.Add("mount: " + line);
            }
        }
        foreach (var ctrl in new[] { "memory", "pids", "cpu", "freezer", "unified", "" })
        {
            var dir = Path.Combine("/sys/fs/cgroup", ctrl, Cgroups.SandboxCgroup.ParentFor(home), id);
            if (Directory.Exists(dir))
            {
                found.Add("cgroup: " + dir);
            }
        }
        foreach (var rt in OciRuntimes.All)
        {
            var root = Path.Combine(home, "runtime", rt);
            if (Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root, id + "*").Any())
            {
                found.Add("runtime state: " + rt);
            }
        }
        return found;
    }

    /// <summary>Host processes whose command line starts with <paramref name="marker"/>.</summary>
    public static IReadOnlyList<int> ProcessesWith(string marker)
    {
        var pids = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }
            try
            {
                var cmd = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (cmd.StartsWith(marker, StringComparison.Ordinal))
                {
                    pids.Add(pid);
                }
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        return pids;
    }

    public void Dispose()
    {
        foreach (var r in Store.List())
        {
            Backend.DestroyAsync(r, CancellationToken.None).GetAwaiter().GetResult();
        }
        Cgroups.SandboxCgroup.RemoveParent(Backend.Cgroups, Cgroups.SandboxCgroup.ParentFor(Home));
        try
        {
            Directory.Delete(Home, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

public sealed record Outcome(string SandboxId, ExecResult Result, string Stdout, string Stderr)
{
    public override string ToString() => $"exit={Result.ExitCode} signal={Result.Signal} reason={Result.KilledReason}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
}

public static class Repo
{
    public static string Root { get; } = Find();

    public static string Artifact(string name)
    {
        var path = Path.Combine(Root, "artifacts", "bin", name);
        return File.Exists(path) ? path : throw new InvalidOperationException($"{path} is missing: run ./build.sh first");
    }

    private static string Find()
    {
        for (var dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
        {
            if (File.Exists(Path.Combine(dir, "Airlock.sln")))
            {
                return dir;
            }
        }
        throw new InvalidOperationException("repository root (Airlock.sln) not found");
    }
}
