// Exec latency into an already running sandbox, in process (as the daemon and the .NET SDK will call it),
// side by side with the runtime's own `crun exec` into the same container.
//   sudo dotnet run -c Release --project bench/ExecLatency -- [iterations]
using System.Diagnostics;
using Airlock.Backends.Oci;
using Airlock.Backends.Oci.Cgroups;
using Airlock.Backends.Oci.Runtime;
using Airlock.Core.Backends;
using Airlock.Core.Storage;
using Airlock.Core.Templates;

var iterations = args.Length > 0 ? int.Parse(args[0]) : 200;
var root = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../.."));
var home = Directory.CreateTempSubdirectory("airlock-bench-exec-").FullName;
File.SetUnixFileMode(home, (UnixFileMode)0x1ED);
var store = new SandboxStore(new AirlockPaths(home));
var backend = new OciBackend(store, new OciOptions(GuestBinary: Path.Combine(root, "artifacts/bin/airlock-guest")));
var sandbox = await backend.CreateAsync(BuiltinTemplates.Shell, CancellationToken.None);
try
{
    var spec = new ExecSpec(["/bin/true"]);
    async Task<double> AirlockExec()
    {
        var sw = Stopwatch.StartNew();
        var r = await backend.ExecAsync(sandbox, spec, ExecIo.Null, CancellationToken.None);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"exec failed: {r}");
        }
        return sw.Elapsed.TotalMilliseconds;
    }

    var crun = new RuntimeDriver("crun", RuntimeDriver.Find("crun")!, store.Paths.RuntimeRoot("crun"), CgroupLayout.Detect());
    async Task<double> CrunExec()
    {
        var sw = Stopwatch.StartNew();
        var (code, output) = await crun.RunAsync(["exec", sandbox.Id, "/bin/true"], CancellationToken.None);
        if (code != 0)
        {
            throw new InvalidOperationException($"crun exec failed: {output}");
        }
        return sw.Elapsed.TotalMilliseconds;
    }

    for (var i = 0; i < 10; i++)
    {
        await AirlockExec();
        await CrunExec();
    }
    var airlock = new List<double>();
    var peer = new List<double>();
    for (var i = 0; i < iterations; i++)
    {
        // Interleaved, so drift in machine load hits both alike.
        airlock.Add(await AirlockExec());
        peer.Add(await CrunExec());
    }
    static string Stats(List<double> xs)
    {
        xs.Sort();
        return $"median {xs[xs.Count / 2]:F2} ms  p90 {xs[(int)(xs.Count * 0.9)]:F2}  min {xs[0]:F2}  max {xs[^1]:F2}";
    }
    var ma = airlock.Order().ElementAt(airlock.Count / 2);
    var mp = peer.Order().ElementAt(peer.Count / 2);
    Console.WriteLine($"exec /bin/true into a running sandbox, {iterations} runs each, interleaved");
    Console.WriteLine($"  airlock (in process, guest socket): {Stats(airlock)}");
    Console.WriteLine($"  crun exec (same container):         {Stats(peer)}");
    Console.WriteLine($"  ratio airlock/crun exec: {ma / mp:F2}   goal: airlock p50 <= 3 ms -> {(ma <= 3 ? "met" : "missed")}");
}
finally
{
    await backend.DestroyAsync(sandbox, CancellationToken.None);
    SandboxCgroup.RemoveParent(backend.Cgroups, SandboxCgroup.ParentFor(home));
    Directory.Delete(home, recursive: true);
}
