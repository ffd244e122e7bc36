using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

// Every test drives real sandboxes (cgroups, mounts, runtimes) of the one published binary: run them one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Airlock.Cli.Tests;

/// <summary>What one invocation of the CLI did.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed)
{
    public override string ToString() => $"exit {ExitCode} after {Elapsed.TotalSeconds:F1}s\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";

    /// <summary>Stderr split into lines, without the trailing empty one.</summary>
    public string[] StderrLines => Stderr.Replace("\r\n", "\n").TrimEnd('\n').Split('\n');
}

/// <summary>Runs the published NativeAOT <c>artifacts/bin/airlock</c> as a child process.</summary>
public static class Cli
{
    private static readonly Lazy<string> RepoRootLazy = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Airlock.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"no Airlock.sln above {AppContext.BaseDirectory}");
    });

    public static string RepoRoot => RepoRootLazy.Value;

    public static string Binary
    {
        get
        {
            var path = Path.Combine(RepoRoot, "artifacts", "bin", "airlock");
            return File.Exists(path) ? path : throw new InvalidOperationException($"{path} does not exist: run ./build.sh first");
        }
    }

    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Runs <c>airlock ARGS</c> with <c>AIRLOCK_HOME</c> set. Stdin is always a pipe: <paramref name="stdin"/>
    /// is written to it, then it is closed (at once, or after <paramref name="closeStdinAfter"/> unless the process
    /// exits first). The process tree is killed after <paramref name="timeout"/> (60 s) and the test fails.</summary>
    public static async Task<CliResult> RunAsync(
        string airlockHome,
        IEnumerable<string> args,
        string? stdin = null,
        IReadOnlyDictionary<string, string>? env = null,
        TimeSpan? timeout = null,
        TimeSpan? closeStdinAfter = null)
    {
        var psi = new ProcessStartInfo(Binary)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["AIRLOCK_HOME"] = airlockHome;
        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }

        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + Binary);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        var exited = p.WaitForExitAsync();

        try
        {
            if (stdin is not null)
            {
                await p.StandardInput.WriteAsync(stdin).ConfigureAwait(false);
                await p.StandardInput.FlushAsync().ConfigureAwait(false);
            }
            if (closeStdinAfter is { } hold)
            {
                await Task.WhenAny(exited, Task.Delay(hold)).ConfigureAwait(false);
            }
            p.StandardInput.Close();
        }
        catch (IOException)
        {
            // The process exited without reading its stdin.
        }

        if (await Task.WhenAny(exited, Task.Delay(timeout ?? DefaultTimeout)).ConfigureAwait(false) != exited)
        {
            p.Kill(entireProcessTree: true);
            await exited.ConfigureAwait(false);
            Assert.Fail($"airlock {string.Join(' ', psi.ArgumentList)} did not exit within {(timeout ?? DefaultTimeout).TotalSeconds}s and was killed\n"
                + $"--- stdout ---\n{await stdout.ConfigureAwait(false)}\n--- stderr ---\n{await stderr.ConfigureAwait(false)}");
        }
        await exited.ConfigureAwait(false);
        return new CliResult(p.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false), sw.Elapsed);
    }
}

/// <summary>A fresh <c>AIRLOCK_HOME</c> for one test class (mode 0755: sandbox users must traverse it), torn down
/// afterwards: leftover sandboxes are removed with <c>airlock sandbox rm</c>, then the directory is deleted (never
/// while something is still mounted under it), along with this home's own cgroups.</summary>
public class AirlockHome : IAsyncLifetime
{
    public AirlockHome()
    {
        _ = Cli.Binary; // fail early and clearly when the binary was not built
        var dir = Directory.CreateTempSubdirectory("airlock-cli-tests-");
        File.SetUnixFileMode(dir.FullName, (UnixFileMode)0x1ED); // 0755
        Path = dir.FullName;
    }

    public string Path { get; }

    public string Sandboxes => System.IO.Path.Combine(Path, "sandboxes");

    public Task<CliResult> RunAsync(params string[] args) => Cli.RunAsync(Path, args);

    public Task<CliResult> RunAsync(string[] args, string? stdin = null, IReadOnlyDictionary<string, string>? env = null,
        TimeSpan? timeout = null, TimeSpan? closeStdinAfter = null) =>
        Cli.RunAsync(Path, args, stdin, env, timeout, closeStdinAfter);

    /// <summary>Sandbox directories that exist under this home's <c>sandboxes/</c>.</summary>
    public string[] SandboxDirs() => Directory.Exists(Sandboxes)
        ? Directory.GetDirectories(Sandboxes).Select(d => System.IO.Path.GetFileName(d)).ToArray()
        : [];

    /// <summary>Mount points at or under this home, from <c>/proc/self/mountinfo</c>.</summary>
    public string[] Mounts() => File.ReadAllLines("/proc/self/mountinfo")
        .Select(l => UnescapeMountPath(l.Split(' ')[4]))
        .Where(m => m == Path || m.StartsWith(Path + "/", StringComparison.Ordinal))
        .ToArray();

    /// <summary>The parent cgroup Airlock derives from this home, in every hierarchy where it exists.</summary>
    public string[] CgroupParents()
    {
        var name = Airlock.Backends.Oci.Cgroups.SandboxCgroup.ParentFor(Path);
        return Directory.Exists("/sys/fs/cgroup")
            ? Directory.GetDirectories("/sys/fs/cgroup").Select(h => System.IO.Path.Combine(h, name)).Where(Directory.Exists).ToArray()
            : [];
    }

    /// <summary>Per-sandbox cgroup directories (<c>sbx-*</c>) left under this home's parent cgroups.</summary>
    public string[] SandboxCgroups() => CgroupParents()
        .SelectMany(p => Directory.GetDirectories(p, "sbx-*"))
        .ToArray();

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        var ids = new HashSet<string>(SandboxDirs());
        var ls = await RunAsync("sandbox", "ls", "--json").ConfigureAwait(false);
        if (ls.ExitCode == 0)
        {
            foreach (var e in JsonDocument.Parse(ls.Stdout).RootElement.EnumerateArray())
            {
                ids.Add(e.GetProperty("id").GetString()!);
            }
        }
        foreach (var id in ids)
        {
            await RunAsync("sandbox", "rm", id).ConfigureAwait(false);
        }

        // Only this home's cgroups, deepest first; rmdir fails harmlessly on any that still has processes.
        foreach (var dir in CgroupParents().SelectMany(p => Directory.GetDirectories(p, "*", SearchOption.AllDirectories).Append(p))
                     .OrderByDescending(d => d.Length))
        {
            try
            {
                Directory.Delete(dir, recursive: false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }

        // A recursive delete would walk into a bind mount of host directories: refuse while anything is mounted.
        var mounts = Mounts();
        if (mounts.Length > 0)
        {
            throw new InvalidOperationException($"not deleting {Path}: still mounted under it:\n{string.Join('\n', mounts)}");
        }
        Directory.Delete(Path, recursive: true);
    }

    private static string UnescapeMountPath(string s) => s.Contains('\\')
        ? System.Text.RegularExpressions.Regex.Replace(s, @"\\([0-7]{3})", m => ((char)Convert.ToInt32(m.Groups[1].Value, 8)).ToString())
        : s;
}
