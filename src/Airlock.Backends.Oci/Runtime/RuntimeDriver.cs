using System.Diagnostics;
using System.Text;
using Airlock.Backends.Oci.Cgroups;
using Airlock.Core.Model;

namespace Airlock.Backends.Oci.Runtime;

/// <summary>Drives one OCI runtime binary (crun, runc or runsc): builds its command lines and starts it, from a
/// private mount namespace where the host's cgroup layout requires it.</summary>
public sealed class RuntimeDriver
{
    private readonly string[] _globalArgs;
    private readonly string? _hiddenMount;

    public RuntimeDriver(string name, string binary, string stateRoot, CgroupLayout layout)
    {
        Name = name;
        Binary = binary;
        StateRoot = stateRoot;
        _hiddenMount = name == OciRuntimes.Crun ? layout.HybridUnifiedMount : null;
        _globalArgs = name == OciRuntimes.Runsc
            // runsc applies the OCI seccomp filter only when asked, and lets the guest's control socket (a host
            // Unix socket bind-mounted in) be used only with --host-uds=open. --network=none leaves only loopback.
            ? ["--root", stateRoot, "--network=none", "--oci-seccomp", "--host-uds=all"]
            : ["--root", stateRoot];
    }

    public string Name { get; }
    public string Binary { get; }
    public string StateRoot { get; }
    /// <summary>Starts processes from a private mount namespace where crun needs one (see <see cref="PrivateMountNamespace"/>).</summary>
    private T Spawn<T>(Func<T> spawn) => _hiddenMount is { } m ? PrivateMountNamespace.Invoke(m, spawn) : spawn();

    /// <summary>Whether this runtime maps sandbox users to an unprivileged host range (gVisor's sentry runs as its own
    /// unprivileged user instead and does not take OCI user namespace mappings).</summary>
    public bool SupportsUserNamespace => Name != OciRuntimes.Runsc;

    public static string? Find(string runtime)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':')
                     .Concat(["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"]))
        {
            var p = Path.Combine(dir, runtime);
            if (File.Exists(p))
            {
                return p;
            }
        }
        return null;
    }

    /// <summary>Starts the runtime with the given subcommand arguments and redirected stdio.</summary>
    public Process Start(IEnumerable<string> args, bool redirectStdin, bool redirectStdout)
    {
        var psi = new ProcessStartInfo(Binary)
        {
            RedirectStandardInput = redirectStdin,
            RedirectStandardOutput = redirectStdout,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in _globalArgs.Concat(args))
        {
            psi.ArgumentList.Add(a);
        }
        // The runtime needs nothing from our environment; keep it from leaking into logs or the sandbox.
        psi.Environment.Clear();
        psi.Environment["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin";
        Directory.CreateDirectory(StateRoot);
        return Spawn(() => Process.Start(psi)!);
    }

    /// <summary>Runs a runtime command that leaves a container running (<c>run --detach</c>); its stdio is /dev/null
    /// and its errors go to <paramref name="stderrLog"/>. Returns the runtime's exit code.</summary>
    public int RunDetached(IEnumerable<string> args, string stderrLog)
    {
        Directory.CreateDirectory(StateRoot);
        var argv = _globalArgs.Concat(args).ToList();
        string[] env = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"];
        return Spawn(() => Native.DetachedSpawn.Run(Binary, argv, env, stderrLog));
    }

    /// <summary>Runs a short runtime command (kill, delete, state) and returns its exit code and stderr.</summary>
    public async Task<(int ExitCode, string Output)> RunAsync(IEnumerable<string> args, CancellationToken ct)
    {
        using var p = Start(args, redirectStdin: false, redirectStdout: true);
        var stdout = p.StandardOutput.ReadToEndAsync(ct);
        var stderr = p.StandardError.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct).ConfigureAwait(false);
        var sb = new StringBuilder(await stdout.ConfigureAwait(false)).Append(await stderr.ConfigureAwait(false));
        return (p.ExitCode, sb.ToString().Trim());
    }

    public Task<(int ExitCode, string Output)> DeleteAsync(string id, CancellationToken ct) =>
        RunAsync(["delete", "--force", id], ct);

    /// <summary>Whether the runtime still has state for the container (it was not deleted).</summary>
    public bool HasState(string id) =>
        Directory.Exists(Path.Combine(StateRoot, id)) || File.Exists(Path.Combine(StateRoot, id + ".state"))
        || (Directory.Exists(StateRoot) && Directory.EnumerateFileSystemEntries(StateRoot, id + "*").Any());
}
