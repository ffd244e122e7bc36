using Airlock.Client;
using Airlock.ControlPlane.Lifecycle;
using Airlock.Core;
using Airlock.Core.Backends;
using Airlock.Core.Control;
using Airlock.Core.Model;
using Airlock.Core.Templates;
using Airlock.Core.Validation;
using Airlock.Guest.Protocol;

namespace Airlock.Mcp.Server;

/// <summary>
/// Where the MCP tools' sandboxes run: the daemon's controller (HTTP <c>/mcp</c>), a daemon through its API (stdio
/// with <c>AIRLOCK_HOST</c>), or an isolation backend in this process (stdio without a daemon). One instance serves
/// one tenant. The gateway can run its upstream servers through the same interface (a long exec with streamed I/O).
/// </summary>
public interface ISandboxHost
{
    /// <summary>For messages: where sandboxes run (<c>daemon</c>, <c>unix:/…</c>, <c>local</c>).</summary>
    string Describe { get; }

    Task<SandboxTemplate> ResolveTemplateAsync(string name, CancellationToken ct);

    /// <summary>One command in a fresh sandbox, destroyed afterwards.</summary>
    Task<RunResult> RunAsync(SandboxTemplate template, ExecSpec spec, ExecIo io, CancellationToken ct);

    /// <summary>Starts a named sandbox that is destroyed at <paramref name="shutdownTime"/> at the latest.</summary>
    Task CreateAsync(string template, string name, DateTimeOffset shutdownTime, CancellationToken ct);

    Task<ExecResult> ExecAsync(string sandbox, ExecSpec spec, ExecIo io, CancellationToken ct);

    ISandboxFiles Files(string sandbox);

    /// <summary>Destroys a sandbox; one that is already gone is not an error.</summary>
    Task DestroyAsync(string sandbox, CancellationToken ct);
}

/// <summary>The daemon's own controller, for one tenant (<c>/mcp</c> on the daemon).</summary>
public sealed class ControllerSandboxHost(SandboxController controller, string tenant) : ISandboxHost
{
    public string Describe => "daemon";

    public Task<SandboxTemplate> ResolveTemplateAsync(string name, CancellationToken ct) => Task.FromResult(controller.ResolveTemplate(tenant, name));

    public Task<RunResult> RunAsync(SandboxTemplate template, ExecSpec spec, ExecIo io, CancellationToken ct) => controller.RunAsync(tenant, template, spec, io, ct);

    public Task CreateAsync(string template, string name, DateTimeOffset shutdownTime, CancellationToken ct) =>
        controller.CreateSandboxAsync(tenant, name, new SandboxSpec
        {
            SandboxTemplateRef = new NameRef(template),
            ShutdownTime = shutdownTime,
            ShutdownPolicy = ShutdownPolicies.Delete,
        }, null, ct);

    public Task<ExecResult> ExecAsync(string sandbox, ExecSpec spec, ExecIo io, CancellationToken ct) => controller.ExecAsync(tenant, sandbox, spec, io, ct);

    public ISandboxFiles Files(string sandbox) => new Files_(controller, tenant, sandbox);

    public async Task DestroyAsync(string sandbox, CancellationToken ct)
    {
        try
        {
            await controller.DeleteSandboxAsync(tenant, sandbox, ct).ConfigureAwait(false);
        }
        catch (AirlockException e) when (e.Code == AirlockException.ErrorCodes.NotFound)
        {
        }
    }

    private sealed class Files_(SandboxController c, string tenant, string name) : ISandboxFiles
    {
        public Task<long> ReadAsync(string path, Stream destination, CancellationToken ct) => c.WithFilesAsync(tenant, name, f => f.ReadAsync(path, destination, ct));

        public Task<long> WriteAsync(string path, Stream source, int mode, CancellationToken ct) => c.WithFilesAsync(tenant, name, f => f.WriteAsync(path, source, mode, ct));

        public Task<IReadOnlyList<FileEntry>> ListAsync(string path, CancellationToken ct) => c.WithFilesAsync(tenant, name, f => f.ListAsync(path, ct));

        public Task DeleteAsync(string path, bool recursive, CancellationToken ct) =>
            c.WithFilesAsync(tenant, name, async f => { await f.DeleteAsync(path, recursive, ct).ConfigureAwait(false); return 0; });

        public Task MkdirAsync(string path, bool parents, CancellationToken ct) =>
            c.WithFilesAsync(tenant, name, async f => { await f.MkdirAsync(path, parents, ct).ConfigureAwait(false); return 0; });
    }
}

/// <summary>A daemon through its HTTP API (<c>AIRLOCK_HOST</c>, <c>AIRLOCK_TOKEN</c>): the daemon authenticates,
/// audits and owns the sandboxes; the tenant is the token's.</summary>
public sealed class ClientSandboxHost(AirlockClient client) : ISandboxHost
{
    public string Describe => client.Host;

    public Task<SandboxTemplate> ResolveTemplateAsync(string name, CancellationToken ct) => client.GetTemplateAsync(name, ct);

    public Task<RunResult> RunAsync(SandboxTemplate template, ExecSpec spec, ExecIo io, CancellationToken ct) => client.RunAsync(template, spec, io, ct);

    public Task CreateAsync(string template, string name, DateTimeOffset shutdownTime, CancellationToken ct) =>
        client.CreateSandboxAsync(name, new SandboxSpec
        {
            SandboxTemplateRef = new NameRef(template),
            ShutdownTime = shutdownTime,
            ShutdownPolicy = ShutdownPolicies.Delete,
        }, null, ct);

    public Task<ExecResult> ExecAsync(string sandbox, ExecSpec spec, ExecIo io, CancellationToken ct) => client.ExecAsync(sandbox, spec, io, ct);

    public ISandboxFiles Files(string sandbox) => client.Files(sandbox);

    public async Task DestroyAsync(string sandbox, CancellationToken ct)
    {
        try
        {
            await client.DeleteSandboxAsync(sandbox, ct).ConfigureAwait(false);
        }
        catch (AirlockException e) when (e.Code == AirlockException.ErrorCodes.NotFound)
        {
        }
    }
}

/// <summary>
/// An isolation backend in this process (stdio without a daemon): sandboxes live as long as this process, and
/// each is destroyed at its shutdown time by a sweep. What a killed process leaves behind, the backend's orphan
/// reaping removes on the next start of any Airlock program on the same state directory.
/// </summary>
public sealed class BackendSandboxHost : ISandboxHost, IAsyncDisposable
{
    private readonly IIsolationBackend _backend;
    private readonly IReadOnlyDictionary<string, SandboxTemplate> _extraTemplates;
    private readonly Dictionary<string, (SandboxRecord Record, DateTimeOffset ShutdownTime)> _sandboxes = [];
    private readonly TimeProvider _time;
    private readonly ITimer _sweep;

    public BackendSandboxHost(IIsolationBackend backend, IReadOnlyDictionary<string, SandboxTemplate>? extraTemplates = null, TimeProvider? time = null)
    {
        _backend = backend;
        _extraTemplates = extraTemplates ?? new Dictionary<string, SandboxTemplate>();
        _time = time ?? TimeProvider.System;
        _sweep = _time.CreateTimer(_ => _ = SweepAsync(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    public string Describe => "local";

    public Task<SandboxTemplate> ResolveTemplateAsync(string name, CancellationToken ct) =>
        Task.FromResult(_extraTemplates.TryGetValue(name, out var t) ? t : BuiltinTemplates.Find(name)
            ?? throw new AirlockException(AirlockException.ErrorCodes.NotFound, $"template '{name}' does not exist here",
                "use a built-in (shell, python) or name a template file under templateFiles in the MCP config"));

    public Task<RunResult> RunAsync(SandboxTemplate template, ExecSpec spec, ExecIo io, CancellationToken ct)
    {
        TemplateValidator.EnsureValid(template, [_backend]);
        return _backend.RunAsync(template, spec, io, ct);
    }

    public async Task CreateAsync(string template, string name, DateTimeOffset shutdownTime, CancellationToken ct)
    {
        var t = await ResolveTemplateAsync(template, ct).ConfigureAwait(false);
        TemplateValidator.EnsureValid(t, [_backend]);
        var record = await _backend.CreateAsync(t, ct).ConfigureAwait(false);
        lock (_sandboxes)
        {
            _sandboxes[name] = (record, shutdownTime);
        }
    }

    public Task<ExecResult> ExecAsync(string sandbox, ExecSpec spec, ExecIo io, CancellationToken ct) => _backend.ExecAsync(Find(sandbox), spec, io, ct);

    public ISandboxFiles Files(string sandbox) => _backend.Files(Find(sandbox));

    public async Task DestroyAsync(string sandbox, CancellationToken ct)
    {
        SandboxRecord? record;
        lock (_sandboxes)
        {
            record = _sandboxes.Remove(sandbox, out var e) ? e.Record : null;
        }
        if (record is not null)
        {
            await _backend.DestroyAsync(record, ct).ConfigureAwait(false);
        }
    }

    private SandboxRecord Find(string name)
    {
        lock (_sandboxes)
        {
            return _sandboxes.TryGetValue(name, out var e) ? e.Record
                : throw new AirlockException(AirlockException.ErrorCodes.NotFound, $"sandbox '{name}' does not exist", "create one with create_sandbox");
        }
    }

    private async Task SweepAsync()
    {
        List<string> due;
        lock (_sandboxes)
        {
            var now = _time.GetUtcNow();
            due = _sandboxes.Where(kv => kv.Value.ShutdownTime <= now).Select(kv => kv.Key).ToList();
        }
        foreach (var name in due)
        {
            try
            {
                await DestroyAsync(name, CancellationToken.None).ConfigureAwait(false);
            }
            catch (AirlockException e)
            {
                Console.Error.WriteLine($"airlock mcp: could not destroy expired sandbox {name}: {e.Message}");
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _sweep.DisposeAsync().ConfigureAwait(false);
        List<string> names;
        lock (_sandboxes)
        {
            names = [.. _sandboxes.Keys];
        }
        foreach (var name in names)
        {
            await DestroyAsync(name, CancellationToken.None).ConfigureAwait(false);
        }
    }
}
