using System.Text;
using Airlock.Core.Backends;
using Airlock.Core.Model;
using Airlock.Core.Storage;
using Airlock.Guest.Protocol;

namespace Airlock.Backends.V8.Tests;

/// <summary>One backend (two JS workers, one Python worker) for every test: workers are the expensive part.</summary>
public sealed class V8Fixture : IDisposable
{
    public V8Fixture()
    {
        Root = Path.Combine(Path.GetTempPath(), "airlock-v8-tests-" + Guid.NewGuid().ToString("N")[..8]);
        Backend = new V8Backend(new AirlockPaths(Root), new V8Options
        {
            JsWorkers = 2,
            PythonWorkers = 1,
            WorkerMemoryBytes = 768L << 20,
            MaxHeapBytes = 256L << 20,
        });
    }

    public string Root { get; }

    public V8Backend Backend { get; }

    public static SandboxTemplate Template(string timeout = "10s", string memory = "128Mi", string outputLimit = "1Mi") => new()
    {
        Name = "v8-test",
        Isolation = new IsolationSpec { Class = IsolationClasses.V8 },
        Resources = new ResourceSpec { Timeout = timeout, Memory = memory, OutputLimit = outputLimit },
    };

    public async Task<(ExecResult Result, string Stdout, string Stderr)> RunAsync(string language, string code, SandboxTemplate? template = null, TimeSpan? timeout = null)
    {
        using var stdout = new MemoryStream();
        using var stderr = new MemoryStream();
        var run = await Backend.RunAsync(template ?? Template(), new ExecSpec([language, code], Timeout: timeout), ExecIo.Capture(stdout, stderr), CancellationToken.None);
        return (run.Result, Encoding.UTF8.GetString(stdout.ToArray()), Encoding.UTF8.GetString(stderr.ToArray()));
    }

    public void Dispose()
    {
        Backend.Dispose();
        if (Directory.Exists(Root))
        {
            Directory.Delete(Root, recursive: true);
        }
    }
}

[CollectionDefinition("v8")]
public sealed class V8Collection : ICollectionFixture<V8Fixture>;
