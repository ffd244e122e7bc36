using System.Diagnostics;
using System.Diagnostics.Metrics;
using Airlock.ControlPlane.Audit;
using Airlock.ControlPlane.Store;
using Airlock.ControlPlane.Telemetry;
using Airlock.Core;
using Airlock.Core.Backends;
using Airlock.Core.Control;
using Airlock.Core.Model;
using Airlock.Core.Storage;
using Airlock.Core.Templates;
using Airlock.Core.Util;
using Airlock.Core.Validation;
using Airlock.Guest.Protocol;

namespace Airlock.ControlPlane.Lifecycle;

public sealed record ControllerOptions
{
    /// <summary>How often pools, expiry and idle timeouts are reconciled (also woken on every change).</summary>
    public TimeSpan ReconcileInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Sandbox creations running at once for pool replenishment.</summary>
    public int MaxConcurrentCreates { get; init; } = 4;

    /// <summary>Refilling a pool is background work: it starts this long after the last adoption, and not while an
    /// exec runs, so that the claimer's first commands do not share the CPU with a sandbox start …</summary>
    public TimeSpan ReplenishGrace { get; init; } = TimeSpan.FromMilliseconds(25);

    /// <summary>… but never waits longer than this.</summary>
    public TimeSpan MaxReplenishDeferral { get; init; } = TimeSpan.FromMilliseconds(250);
}

/// <summary>
/// The lifecycle controller: templates, sandboxes, claims and warm pools of every tenant, kept in memory and written
/// through to the <see cref="ControlStore"/> before any change is acknowledged. A background loop replenishes pools,
/// replaces stale members, and expires sandboxes (shutdownTime, idle timeout, max lifetime) and finished claims
/// (ttlSecondsAfterFinished). On start it reconciles the store with reality: adopts sandboxes that still run, marks
/// lost the ones that do not, and destroys whatever the backend holds that the store does not know.
/// The rule that makes crashes safe: the store forgets a sandbox before the backend destroys it, and learns of it
/// only after the backend created it, so anything the backend holds and the store does not is an orphan.
/// </summary>
public sealed class SandboxController : IAsyncDisposable
{
    public const string System = "system";
    private readonly ControlStore _store;
    private readonly AuditLog _audit;
    private readonly IIsolationBackend _backend;
    private readonly SandboxStore _records;
    private readonly TimeProvider _time;
    private readonly ControllerOptions _options;
    private readonly Lock _gate = new();
    private readonly Dictionary<(string Tenant, string Name), Entry> _sandboxes = [];
    private readonly Dictionary<(string Tenant, string Name), SandboxClaim> _claims = [];
    private readonly Dictionary<(string Tenant, string Name), SandboxWarmPool> _pools = [];
    private readonly Dictionary<(string Tenant, string Name), SandboxTemplate> _templates = [];
    private readonly SemaphoreSlim _createSlots;
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _background = [];
    private Task? _loop;
    private long _lastAdoption;
    private int _execsInFlight;

    private sealed class Entry(string tenant, Sandbox sandbox)
    {
        public string Tenant { get; } = tenant;
        public Sandbox Sandbox { get; set; } = sandbox;
        public SandboxRecord? Record { get; set; }
        public SandboxTemplate? Template { get; set; }
        public int InFlight { get; set; }
        public bool Deleting { get; set; }
        public DateTimeOffset LastActivity { get; set; }
        public bool Ready => Record is not null && !Deleting && Conditions.IsTrue(Sandbox.Status.Conditions, Conditions.Ready);
    }

    public SandboxController(ControlStore store, AuditLog audit, IIsolationBackend backend, SandboxStore records, TimeProvider? time = null, ControllerOptions? options = null)
    {
        _store = store;
        _audit = audit;
        _backend = backend;
        _records = records;
        _time = time ?? TimeProvider.System;
        _options = options ?? new ControllerOptions();
        _createSlots = new SemaphoreSlim(_options.MaxConcurrentCreates);
        AirlockTelemetry.Meter.CreateObservableGauge("airlock.sandboxes", ObserveSandboxes, "{sandbox}", "Sandboxes by state");
        AirlockTelemetry.Meter.CreateObservableGauge("airlock.pool.ready", ObservePools, "{sandbox}", "Ready sandboxes per warm pool");
    }

    private DateTimeOffset Now => _time.GetUtcNow();

    // ================================================================== start-up

    /// <summary>Loads the store, reconciles it with the backend and starts the background loop. Returns what was
    /// reaped, adopted and marked lost.</summary>
    public async Task<StartReport> StartAsync(CancellationToken ct)
    {
        foreach (var (tenant, name, t) in _store.List(Kinds.Template, ControlJson.Default.SandboxTemplate))
        {
            _templates[(tenant, name)] = t;
        }
        foreach (var (tenant, name, p) in _store.List(Kinds.WarmPool, ControlJson.Default.SandboxWarmPool))
        {
            _pools[(tenant, name)] = p;
        }
        foreach (var (tenant, name, c) in _store.List(Kinds.Claim, ControlJson.Default.SandboxClaim))
        {
            _claims[(tenant, name)] = c;
        }
        foreach (var (tenant, name, s) in _store.List(Kinds.Sandbox, ControlJson.Default.Sandbox))
        {
            _sandboxes[(tenant, name)] = new Entry(tenant, s) { LastActivity = s.Status.LastActivity };
        }

        // Ephemeral sandboxes of a dead daemon, persistent ones with no process left, half-created directories.
        var reaped = _backend is IReapingBackend r ? (await r.ReapOrphansAsync(ct).ConfigureAwait(false)).ToList() : [];
        var referenced = new HashSet<string>();
        var adopted = 0;
        var lost = 0;
        var ops = new List<StoreOp>();
        foreach (var ((tenant, name), e) in _sandboxes.ToList())
        {
            var s = e.Sandbox;
            var record = s.Status.BackendId is { } id ? _records.TryGet(id) : null;
            var state = record is null ? SandboxState.Gone : await _backend.StatusAsync(record, ct).ConfigureAwait(false);
            if (record is not null && state is SandboxState.Running or SandboxState.Suspended)
            {
                referenced.Add(record.Id);
                if (_backend is IReattachingBackend reattaching)
                {
                    try
                    {
                        reattaching.Reattach(record);
                    }
                    catch (AirlockException ex)
                    {
                        // E.g. a secret's value is no longer in the daemon's environment: the sandbox runs without
                        // egress (its forwarder finds no proxy), which is the safe side; say why.
                        await _audit.AppendAsync(new AuditEntry(tenant, System, "sandbox.egress", name, "denied", "startup", "error", 0, ex.Message)).ConfigureAwait(false);
                    }
                }
                e.Record = record;
                e.Template = record.Template;
                var suspended = state == SandboxState.Suspended;
                e.Sandbox = s with { Status = WithRunning(s.Status, suspended, Now) };
                ops.Add(Put(tenant, e.Sandbox));
                adopted++;
                continue;
            }
            if (s.Status.FinishedAt is not null)
            {
                continue;
            }
            lost++;
            MarkLost(e, "the sandbox's processes were gone when the daemon started", ops);
        }
        foreach (var id in _records.ListIds().Where(id => !referenced.Contains(id)))
        {
            var record = _records.TryGet(id);
            if (record is not null)
            {
                await _backend.DestroyAsync(record, ct).ConfigureAwait(false);
                reaped.Add(id);
            }
        }
        _store.Batch(ops);
        var report = new StartReport(adopted, lost, reaped.Distinct().ToList());
        await _audit.AppendAsync(new AuditEntry(System, System, "daemon.start", _store.DataDir, "allowed", "startup", "ok", 0,
            $"adopted={adopted} lost={lost} reaped={string.Join(',', report.Reaped)}")).ConfigureAwait(false);
        _loop = Task.Run(() => LoopAsync(_stop.Token), CancellationToken.None);
        return report;
    }

    public sealed record StartReport(int Adopted, int Lost, IReadOnlyList<string> Reaped);

    // ================================================================== templates

    public SandboxTemplate ResolveTemplate(string tenant, string name)
    {
        lock (_gate)
        {
            if (_templates.TryGetValue((tenant, name), out var t))
            {
                return t;
            }
        }
        return BuiltinTemplates.Find(name) ?? throw new AirlockException(AirlockException.ErrorCodes.NotFound,
            $"template '{name}' does not exist", "apply it with PUT /v1/templates/{name} (airlock template apply FILE) or use a built-in: shell, python");
    }

    public SandboxTemplate ApplyTemplate(string tenant, SandboxTemplate t)
    {
        TemplateValidator.EnsureValid(t, [_backend]);
        lock (_gate)
        {
            _store.Put(Kinds.Template, tenant, t.Name, t, ControlJson.Default.SandboxTemplate);
            _templates[(tenant, t.Name)] = t;
        }
        Wake();
        return t;
    }

    public IReadOnlyList<SandboxTemplate> ListTemplates(string tenant)
    {
        lock (_gate)
        {
            var own = _templates.Where(kv => kv.Key.Tenant == tenant).Select(kv => kv.Value).ToList();
            return [.. own, .. BuiltinTemplates.All.Where(b => own.All(o => o.Name != b.Name))];
        }
    }

    public void DeleteTemplate(string tenant, string name)
    {
        lock (_gate)
        {
            if (!_templates.ContainsKey((tenant, name)))
            {
                throw NotFound("template", name);
            }
            if (_pools.FirstOrDefault(p => p.Key.Tenant == tenant && p.Value.Spec.SandboxTemplateRef?.Name == name).Value is { } pool)
            {
                throw new AirlockException(AirlockException.ErrorCodes.Conflict, $"template '{name}' is used by warm pool '{pool.Name}'", $"delete the pool first: airlock pool rm {pool.Name}");
            }
            _store.Delete(Kinds.Template, tenant, name);
            _templates.Remove((tenant, name));
        }
    }

    private static string HashOf(SandboxTemplate t) => StableHash.Hex(TemplateLoader.ToJson(t));

    // ================================================================== warm pools

    public SandboxWarmPool ApplyPool(string tenant, string name, SandboxWarmPoolSpec spec)
    {
        SandboxWarmPoolValidator.EnsureValid(name, spec);
        ResolveTemplate(tenant, spec.SandboxTemplateRef!.Name);
        SandboxWarmPool pool;
        lock (_gate)
        {
            pool = new SandboxWarmPool(name, spec, _pools.TryGetValue((tenant, name), out var old) ? old.Status : new SandboxWarmPoolStatus());
            _store.Put(Kinds.WarmPool, tenant, name, pool, ControlJson.Default.SandboxWarmPool);
            _pools[(tenant, name)] = pool;
        }
        Wake();
        return pool;
    }

    public SandboxWarmPool GetPool(string tenant, string name)
    {
        lock (_gate)
        {
            return _pools.TryGetValue((tenant, name), out var p) ? p with { Status = PoolStatus(tenant, name) } : throw NotFound("warm pool", name);
        }
    }

    public IReadOnlyList<SandboxWarmPool> ListPools(string tenant)
    {
        lock (_gate)
        {
            return _pools.Where(kv => kv.Key.Tenant == tenant).Select(kv => kv.Value with { Status = PoolStatus(tenant, kv.Key.Name) }).ToList();
        }
    }

    public async Task DeletePoolAsync(string tenant, string name, CancellationToken ct)
    {
        List<Entry> members;
        lock (_gate)
        {
            if (!_pools.Remove((tenant, name)))
            {
                throw NotFound("warm pool", name);
            }
            members = _sandboxes.Values.Where(e => e.Tenant == tenant && e.Sandbox.Status.WarmPool == name).ToList();
            var ops = new List<StoreOp> { StoreOp.Delete(Kinds.WarmPool, tenant, name) };
            foreach (var m in members)
            {
                ops.Add(Unlink(m));
            }
            _store.Batch(ops);
        }
        foreach (var m in members)
        {
            await DestroyBackendAsync(m, ct).ConfigureAwait(false);
        }
    }

    private SandboxWarmPoolStatus PoolStatus(string tenant, string pool)
    {
        var members = _sandboxes.Values.Where(e => e.Tenant == tenant && e.Sandbox.Status.WarmPool == pool && !e.Deleting).ToList();
        return new SandboxWarmPoolStatus { Replicas = members.Count, ReadyReplicas = members.Count(m => m.Ready) };
    }

    // ================================================================== sandboxes

    /// <summary>Creates a sandbox from a template reference or an inline template (already parsed).</summary>
    public async Task<Sandbox> CreateSandboxAsync(string tenant, string? requestedName, SandboxSpec? requestedSpec, SandboxTemplate? inlineTemplate, CancellationToken ct)
    {
        var name = requestedName ?? NewName("sbx");
        var spec = requestedSpec ?? new SandboxSpec();
        SandboxTemplate template;
        if (inlineTemplate is { } inline)
        {
            TemplateValidator.EnsureValid(inline, [_backend]);
            template = inline;
            spec = spec with { SandboxTemplateRef = spec.SandboxTemplateRef ?? new NameRef(inline.Name) };
        }
        else
        {
            SandboxSpecValidator.EnsureValid(name, spec, Now);
            template = ResolveTemplate(tenant, spec.SandboxTemplateRef!.Name);
        }
        SandboxSpecValidator.EnsureValid(name, spec, Now);
        var entry = Reserve(tenant, name, spec, template, warmPool: null, claim: null);
        await StartEntryAsync(entry, template, ct).ConfigureAwait(false);
        return Snapshot(entry);
    }

    /// <summary>Adds a not-yet-ready entry (stored), refusing a name in use.</summary>
    private Entry Reserve(string tenant, string name, SandboxSpec spec, SandboxTemplate template, string? warmPool, string? claim)
    {
        var now = Now;
        var sandbox = new Sandbox(name, spec, new SandboxStatus
        {
            Conditions = Conditions.Set([], Conditions.Ready, Conditions.False, Conditions.DependenciesNotReady, "starting", now),
            WarmPool = warmPool,
            Claim = claim,
            LaunchType = "cold",
            TemplateHash = HashOf(template),
            Network = template.Network,
            CreatedAt = now,
            StartedAt = now,
            LastActivity = now,
        });
        var entry = new Entry(tenant, sandbox) { Template = template, LastActivity = now };
        lock (_gate)
        {
            if (_sandboxes.ContainsKey((tenant, name)))
            {
                throw new AirlockException(AirlockException.ErrorCodes.Conflict, $"sandbox '{name}' already exists", "choose another name, or delete it first");
            }
            _store.Put(Kinds.Sandbox, tenant, name, sandbox, ControlJson.Default.Sandbox);
            _sandboxes[(tenant, name)] = entry;
        }
        return entry;
    }

    /// <summary>Creates the backend sandbox of a reserved entry; on failure the entry is removed again.</summary>
    private async Task StartEntryAsync(Entry entry, SandboxTemplate template, CancellationToken ct)
    {
        using var activity = AirlockTelemetry.Source.StartActivity("sandbox.create");
        activity?.SetTag("airlock.sandbox", entry.Sandbox.Name);
        activity?.SetTag("airlock.template", template.Name);
        SandboxRecord record;
        try
        {
            record = await _backend.CreateAsync(template, ct).ConfigureAwait(false);
        }
        catch
        {
            lock (_gate)
            {
                if (_sandboxes.TryGetValue((entry.Tenant, entry.Sandbox.Name), out var e) && e == entry)
                {
                    _sandboxes.Remove((entry.Tenant, entry.Sandbox.Name));
                    _store.Delete(Kinds.Sandbox, entry.Tenant, entry.Sandbox.Name);
                }
            }
            throw;
        }
        AirlockTelemetry.SandboxesCreated.Add(1);
        if (entry.Sandbox.Status.WarmPool is not null)
        {
            // Warm means warm: one throw-away exec pages in the agent's spawn path and the sandbox's view of the
            // system directories, so the claimer's first command does not pay for it.
            try
            {
                await _backend.ExecAsync(record, new ExecSpec(["true"], Timeout: TimeSpan.FromSeconds(5)), ExecIo.Null, ct).ConfigureAwait(false);
            }
            catch (AirlockException)
            {
            }
        }
        var keep = false;
        lock (_gate)
        {
            if (!entry.Deleting && _sandboxes.ContainsValue(entry))
            {
                entry.Record = record;
                var s = entry.Sandbox;
                entry.Sandbox = s with { Status = WithRunning(s.Status with { BackendId = record.Id }, false, Now) };
                _store.Put(Kinds.Sandbox, entry.Tenant, s.Name, entry.Sandbox, ControlJson.Default.Sandbox);
                keep = true;
            }
        }
        if (!keep)
        {
            // Deleted while it was starting.
            await _backend.DestroyAsync(record, CancellationToken.None).ConfigureAwait(false);
            throw new AirlockException(AirlockException.ErrorCodes.Conflict, $"sandbox '{entry.Sandbox.Name}' was deleted while it started", "create it again");
        }
        if (entry.Sandbox.Spec.OperatingMode == OperatingModes.Suspended)
        {
            await SetModeAsync(entry, OperatingModes.Suspended, ct).ConfigureAwait(false);
        }
    }

    public Sandbox GetSandbox(string tenant, string name)
    {
        lock (_gate)
        {
            return Snapshot(Find(tenant, name));
        }
    }

    public IReadOnlyList<Sandbox> ListSandboxes(string tenant)
    {
        lock (_gate)
        {
            return _sandboxes.Values.Where(e => e.Tenant == tenant).OrderBy(e => e.Sandbox.Status.CreatedAt).Select(Snapshot).ToList();
        }
    }

    public async Task DeleteSandboxAsync(string tenant, string name, CancellationToken ct)
    {
        Entry e;
        lock (_gate)
        {
            e = Find(tenant, name);
            if (e.Sandbox.Status.Claim is { } claim && _claims.ContainsKey((tenant, claim)))
            {
                throw new AirlockException(AirlockException.ErrorCodes.Conflict, $"sandbox '{name}' belongs to claim '{claim}'", $"delete the claim instead: airlock claim rm {claim}");
            }
            Forget(e);
        }
        await DestroyBackendAsync(e, ct).ConfigureAwait(false);
    }

    /// <summary>Removes an entry from memory and store (caller holds the lock); the backend is destroyed after.</summary>
    private void Forget(Entry e) => _store.Batch([Unlink(e)]);

    /// <summary>Takes an entry out of memory (caller holds the lock) and returns the store delete that must go into
    /// the same batch as the change that caused it.</summary>
    private StoreOp Unlink(Entry e)
    {
        e.Deleting = true;
        _sandboxes.Remove((e.Tenant, e.Sandbox.Name));
        return StoreOp.Delete(Kinds.Sandbox, e.Tenant, e.Sandbox.Name);
    }

    private async Task DestroyBackendAsync(Entry e, CancellationToken ct)
    {
        if (e.Record is { } r)
        {
            using var activity = AirlockTelemetry.Source.StartActivity("sandbox.destroy");
            activity?.SetTag("airlock.sandbox", e.Sandbox.Name);
            await _backend.DestroyAsync(r, ct).ConfigureAwait(false);
        }
    }

    public async Task<Sandbox> PatchSandboxAsync(string tenant, string name, PatchSandboxRequest patch, CancellationToken ct)
    {
        Entry e;
        lock (_gate)
        {
            e = Find(tenant, name);
        }
        var errors = new List<ValidationError>();
        if (patch.OperatingMode is { } m && !OperatingModes.All.Contains(m))
        {
            errors.Add(new("operatingMode", $"'{m}' must be one of {string.Join(", ", OperatingModes.All)}"));
        }
        if (patch.ShutdownTime is { } st && st <= Now)
        {
            errors.Add(new("shutdownTime", $"{st:O} is in the past"));
        }
        if (errors.Count > 0)
        {
            throw new ValidationException($"patch of sandbox '{name}'", errors);
        }
        if (patch.ShutdownTime is { } time)
        {
            lock (_gate)
            {
                e.Sandbox = e.Sandbox with { Spec = e.Sandbox.Spec with { ShutdownTime = time } };
                _store.Put(Kinds.Sandbox, tenant, name, e.Sandbox, ControlJson.Default.Sandbox);
            }
        }
        if (patch.OperatingMode is { } mode)
        {
            await SetModeAsync(e, mode, ct).ConfigureAwait(false);
        }
        lock (_gate)
        {
            return Snapshot(e);
        }
    }

    private async Task SetModeAsync(Entry e, string mode, CancellationToken ct)
    {
        if (e.Record is not { } record || e.Sandbox.Status.FinishedAt is not null)
        {
            throw new AirlockException(AirlockException.ErrorCodes.NotReady, $"sandbox '{e.Sandbox.Name}' is not running", "create a new sandbox");
        }
        var suspend = mode == OperatingModes.Suspended;
        using var activity = AirlockTelemetry.Source.StartActivity(suspend ? "sandbox.suspend" : "sandbox.resume");
        if (suspend)
        {
            await _backend.SuspendAsync(record, ct).ConfigureAwait(false);
        }
        else
        {
            await _backend.ResumeAsync(record, ct).ConfigureAwait(false);
        }
        lock (_gate)
        {
            var s = e.Sandbox;
            e.Sandbox = s with { Spec = s.Spec with { OperatingMode = mode }, Status = WithRunning(s.Status, suspend, Now) };
            e.LastActivity = Now;
            _store.Put(Kinds.Sandbox, e.Tenant, s.Name, e.Sandbox, ControlJson.Default.Sandbox);
        }
    }

    // ================================================================== exec and files

    public async Task<ExecResult> ExecAsync(string tenant, string name, ExecSpec spec, ExecIo io, CancellationToken ct)
    {
        var (e, record) = Acquire(tenant, name);
        var sw = Stopwatch.StartNew();
        try
        {
            using var activity = AirlockTelemetry.Source.StartActivity("sandbox.exec");
            activity?.SetTag("airlock.sandbox", name);
            if (e.Sandbox.Spec.Env is { Count: > 0 } claimEnv)
            {
                var env = new Dictionary<string, string>(claimEnv);
                foreach (var (k, v) in spec.Env ?? new Dictionary<string, string>())
                {
                    env[k] = v;
                }
                spec = spec with { Env = env };
            }
            return await _backend.ExecAsync(record, spec, io, ct).ConfigureAwait(false);
        }
        finally
        {
            AirlockTelemetry.ExecLatency.Record(sw.Elapsed.TotalMilliseconds);
            Release(e);
        }
    }

    /// <summary>Workspace files of a running sandbox; each operation counts as activity.</summary>
    public async Task<T> WithFilesAsync<T>(string tenant, string name, Func<ISandboxFiles, Task<T>> body)
    {
        var (e, record) = Acquire(tenant, name);
        try
        {
            return await body(_backend.Files(record)).ConfigureAwait(false);
        }
        finally
        {
            Release(e);
        }
    }

    private (Entry, SandboxRecord) Acquire(string tenant, string name)
    {
        lock (_gate)
        {
            var e = Find(tenant, name);
            if (e.Sandbox.Spec.OperatingMode == OperatingModes.Suspended)
            {
                throw new AirlockException(AirlockException.ErrorCodes.Suspended, $"sandbox '{name}' is suspended", $"resume it: airlock sandbox resume {name}");
            }
            if (!e.Ready || e.Record is not { } record)
            {
                throw new AirlockException(AirlockException.ErrorCodes.NotReady,
                    $"sandbox '{name}' is not ready ({Conditions.Find(e.Sandbox.Status.Conditions, Conditions.Ready)?.Reason ?? "unknown"})", "wait for it to start, or create a new one");
            }
            e.InFlight++;
            e.LastActivity = Now;
            Interlocked.Increment(ref _execsInFlight);
            return (e, record);
        }
    }

    private void Release(Entry e)
    {
        lock (_gate)
        {
            e.InFlight--;
            e.LastActivity = Now;
        }
        Interlocked.Decrement(ref _execsInFlight);
    }

    /// <summary>Waits until no exec is running and the last adoption is <see cref="ControllerOptions.ReplenishGrace"/>
    /// old, at most <see cref="ControllerOptions.MaxReplenishDeferral"/>.</summary>
    private async Task YieldToForegroundAsync(CancellationToken ct)
    {
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < _options.MaxReplenishDeferral)
        {
            if (Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastAdoption)) >= _options.ReplenishGrace && Volatile.Read(ref _execsInFlight) == 0)
            {
                return;
            }
            await Task.Delay(5, ct).ConfigureAwait(false);
        }
    }

    /// <summary>The tenant of the ephemeral run in progress on this execution context (see <see cref="OwnerOf"/>).</summary>
    private static readonly AsyncLocal<string?> RunTenant = new();

    /// <summary>Who a backend sandbox belongs to now: its tenant and name (a pool member's name changes when a claim
    /// adopts it); for an ephemeral run, its tenant and the backend id.</summary>
    public (string Tenant, string Name)? OwnerOf(string backendId)
    {
        lock (_gate)
        {
            foreach (var e in _sandboxes.Values)
            {
                if (e.Record?.Id == backendId)
                {
                    return (e.Tenant, e.Sandbox.Name);
                }
            }
        }
        return RunTenant.Value is { } tenant ? (tenant, backendId) : null;
    }

    /// <summary>Runs one command in an ephemeral sandbox: adopted from a ready pool member of an identical template
    /// when there is one, else started cold. The sandbox is destroyed afterwards either way.</summary>
    public async Task<RunResult> RunAsync(string tenant, SandboxTemplate template, ExecSpec spec, ExecIo io, CancellationToken ct)
    {
        TemplateValidator.EnsureValid(template, [_backend]);
        var hash = HashOf(template);
        Entry? warm = null;
        lock (_gate)
        {
            warm = _sandboxes.Values.FirstOrDefault(e => e.Tenant == tenant && e.Sandbox.Status.WarmPool is not null && e.Ready
                && e.InFlight == 0 && e.Sandbox.Status.TemplateHash == hash);
            if (warm is not null)
            {
                Forget(warm);
                Interlocked.Exchange(ref _lastAdoption, Stopwatch.GetTimestamp());
            }
        }
        var sw = Stopwatch.StartNew();
        try
        {
            if (warm is null)
            {
                // The cold sandbox's id is chosen inside the backend; its egress proxy starts there too and carries
                // this along (execution context), so its connections are audited under the right tenant.
                RunTenant.Value = tenant;
                return await _backend.RunAsync(template, spec, io, ct).ConfigureAwait(false);
            }
            Wake();
            Interlocked.Increment(ref _execsInFlight);
            try
            {
                var result = await _backend.ExecAsync(warm.Record!, spec, io, ct).ConfigureAwait(false);
                return new RunResult(warm.Record!.Id, result);
            }
            finally
            {
                Interlocked.Decrement(ref _execsInFlight);
            }
        }
        finally
        {
            AirlockTelemetry.ExecLatency.Record(sw.Elapsed.TotalMilliseconds);
            if (warm is not null)
            {
                // The store already forgot it: tear it down after the answer (a daemon killed first leaves an orphan
                // that the next start reaps).
                Track(Task.Run(() => DestroyBackendAsync(warm, CancellationToken.None), CancellationToken.None));
            }
        }
    }

    private void Track(Task task)
    {
        lock (_background)
        {
            _background.RemoveAll(t => t.IsCompleted);
            _background.Add(task);
        }
    }

    // ================================================================== claims

    public async Task<SandboxClaim> CreateClaimAsync(string tenant, CreateClaimRequest req, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        var name = req.Name ?? NewName("claim");
        var spec = req.Spec ?? new SandboxClaimSpec();
        SandboxClaimValidator.EnsureValid(name, spec, Now);
        using var activity = AirlockTelemetry.Source.StartActivity("claim.create");
        activity?.SetTag("airlock.claim", name);
        string? poolName = spec.WarmPoolRef?.Name;
        SandboxTemplate template;
        if (poolName is not null)
        {
            SandboxWarmPool pool;
            lock (_gate)
            {
                pool = _pools.TryGetValue((tenant, poolName), out var p) ? p : throw NotFound("warm pool", poolName);
            }
            template = ResolveTemplate(tenant, pool.Spec.SandboxTemplateRef!.Name);
        }
        else
        {
            template = ResolveTemplate(tenant, spec.SandboxTemplateRef!.Name);
        }
        var env = InjectEnv(template, spec.Env);
        var sandboxSpec = new SandboxSpec
        {
            SandboxTemplateRef = new NameRef(template.Name),
            ShutdownTime = spec.Lifecycle.ShutdownTime,
            ShutdownPolicy = spec.Lifecycle.ShutdownPolicy,
            Env = env,
        };
        var now = Now;
        var claim = new SandboxClaim(name, spec, new SandboxClaimStatus
        {
            Conditions = Conditions.Set([], Conditions.Ready, Conditions.False, Conditions.SandboxNotReady, "waiting for a sandbox", now),
            Sandbox = new NameRef(name),
        });
        Entry? adopted = null;
        var hash = HashOf(template);
        lock (_gate)
        {
            if (_claims.ContainsKey((tenant, name)) || _sandboxes.ContainsKey((tenant, name)))
            {
                throw new AirlockException(AirlockException.ErrorCodes.Conflict, $"claim or sandbox '{name}' already exists", "choose another name, or delete it first");
            }
            if (poolName is not null)
            {
                adopted = _sandboxes.Values
                    .Where(e => e.Tenant == tenant && e.Sandbox.Status.WarmPool == poolName && e.Ready && e.InFlight == 0)
                    .OrderBy(e => e.Sandbox.Status.TemplateHash == hash ? 0 : 1)
                    .ThenBy(e => e.Sandbox.Status.CreatedAt)
                    .FirstOrDefault();
            }
            if (adopted is not null)
            {
                // Adopt: the warm sandbox leaves the pool and takes the claim's name, in one transaction.
                var old = adopted.Sandbox;
                _sandboxes.Remove((tenant, old.Name));
                adopted.Sandbox = old with
                {
                    Name = name,
                    Spec = sandboxSpec,
                    Status = old.Status with { WarmPool = null, Claim = name, LaunchType = "warm", StartedAt = now, LastActivity = now },
                };
                adopted.LastActivity = now;
                _sandboxes[(tenant, name)] = adopted;
                claim = claim with { Status = ReadyClaim(claim.Status, sw.Elapsed.TotalMilliseconds, "adopted a warm sandbox", now) };
                _store.Batch([
                    StoreOp.Delete(Kinds.Sandbox, tenant, old.Name),
                    Put(tenant, adopted.Sandbox),
                    StoreOp.Put(Kinds.Claim, tenant, name, claim, ControlJson.Default.SandboxClaim),
                ]);
                _claims[(tenant, name)] = claim;
            }
            else
            {
                _store.Put(Kinds.Claim, tenant, name, claim, ControlJson.Default.SandboxClaim);
                _claims[(tenant, name)] = claim;
            }
        }
        if (adopted is not null)
        {
            Interlocked.Exchange(ref _lastAdoption, Stopwatch.GetTimestamp());
            Wake();
            AirlockTelemetry.ClaimLatency.Record(sw.Elapsed.TotalMilliseconds, new KeyValuePair<string, object?>("launch", "warm"));
            return claim;
        }
        try
        {
            var entry = Reserve(tenant, name, sandboxSpec, template, warmPool: null, claim: name);
            await StartEntryAsync(entry, template, ct).ConfigureAwait(false);
        }
        catch
        {
            lock (_gate)
            {
                _claims.Remove((tenant, name));
                _store.Delete(Kinds.Claim, tenant, name);
            }
            throw;
        }
        lock (_gate)
        {
            claim = claim with { Status = ReadyClaim(claim.Status, sw.Elapsed.TotalMilliseconds, "started a sandbox (no warm one was ready)", Now) };
            if (_claims.ContainsKey((tenant, name)))
            {
                _claims[(tenant, name)] = claim;
                _store.Put(Kinds.Claim, tenant, name, claim, ControlJson.Default.SandboxClaim);
            }
        }
        AirlockTelemetry.ClaimLatency.Record(sw.Elapsed.TotalMilliseconds, new KeyValuePair<string, object?>("launch", "cold"));
        return claim;
    }

    private static SandboxClaimStatus ReadyClaim(SandboxClaimStatus s, double ms, string message, DateTimeOffset now) => s with
    {
        Conditions = Conditions.Set(s.Conditions, Conditions.Ready, Conditions.True, Conditions.SandboxReady, message, now),
        ClaimMs = Math.Round(ms, 3),
    };

    /// <summary>The claim's environment, as the template's envVarsInjectionPolicy allows.</summary>
    private static Dictionary<string, string>? InjectEnv(SandboxTemplate t, IReadOnlyList<EnvVar> env)
    {
        if (env.Count == 0)
        {
            return null;
        }
        var errors = new List<ValidationError>();
        for (var i = 0; i < env.Count; i++)
        {
            if (t.EnvVarsInjectionPolicy == EnvVarsInjectionPolicies.Disallowed)
            {
                errors.Add(new($"spec.env[{i}]", $"template '{t.Name}' has envVarsInjectionPolicy Disallowed ({Conditions.EnvVarsInjectionRejected})"));
            }
            else if (t.EnvVarsInjectionPolicy == EnvVarsInjectionPolicies.Allowed && t.Env.ContainsKey(env[i].Name))
            {
                errors.Add(new($"spec.env[{i}].name", $"'{env[i].Name}' is set by template '{t.Name}', whose envVarsInjectionPolicy Allowed does not permit overriding it ({Conditions.EnvVarsInjectionRejected})"));
            }
        }
        if (errors.Count > 0)
        {
            throw new ValidationException("claim environment", errors);
        }
        return env.ToDictionary(e => e.Name, e => e.Value);
    }

    public SandboxClaim GetClaim(string tenant, string name)
    {
        lock (_gate)
        {
            return _claims.TryGetValue((tenant, name), out var c) ? c : throw NotFound("claim", name);
        }
    }

    public IReadOnlyList<SandboxClaim> ListClaims(string tenant)
    {
        lock (_gate)
        {
            return _claims.Where(kv => kv.Key.Tenant == tenant).Select(kv => kv.Value).ToList();
        }
    }

    public async Task DeleteClaimAsync(string tenant, string name, CancellationToken ct)
    {
        Entry? sandbox;
        lock (_gate)
        {
            if (!_claims.Remove((tenant, name)))
            {
                throw NotFound("claim", name);
            }
            _sandboxes.TryGetValue((tenant, name), out sandbox);
            var ops = new List<StoreOp> { StoreOp.Delete(Kinds.Claim, tenant, name) };
            if (sandbox is not null && sandbox.Sandbox.Status.Claim == name)
            {
                ops.Add(Unlink(sandbox));
            }
            else
            {
                sandbox = null;
            }
            _store.Batch(ops);
        }
        if (sandbox is not null)
        {
            await DestroyBackendAsync(sandbox, ct).ConfigureAwait(false);
        }
    }

    // ================================================================== reconcile loop

    public void Wake()
    {
        if (_wake.CurrentCount == 0)
        {
            _wake.Release();
        }
    }

    private async Task LoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await ReconcileAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                await _audit.AppendAsync(new AuditEntry(System, System, "controller.error", "", "allowed", "reconcile", "error", 0, e.Message)).ConfigureAwait(false);
            }
            try
            {
                await _wake.WaitAsync(_options.ReconcileInterval, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Records that a sandbox's processes are gone (caller holds the lock): a pool member is dropped (the
    /// pool replaces it), any other sandbox is kept as Finished/SandboxLost, and its claim finishes with it.</summary>
    private void MarkLost(Entry e, string message, List<StoreOp> ops)
    {
        var now = Now;
        var s = e.Sandbox;
        if (s.Status.WarmPool is not null)
        {
            ops.Add(Unlink(e));
            return;
        }
        e.Sandbox = Finish(s, Conditions.SandboxLost, message, now);
        ops.Add(Put(e.Tenant, e.Sandbox));
        if (s.Status.Claim is { } claimName && _claims.TryGetValue((e.Tenant, claimName), out var c) && c.Status.FinishedAt is null)
        {
            var claim = c with
            {
                Status = c.Status with
                {
                    Conditions = Conditions.Set(c.Status.Conditions, Conditions.Ready, Conditions.False, Conditions.SandboxNotReady, message, now),
                    FinishedAt = now,
                },
            };
            _claims[(e.Tenant, claimName)] = claim;
            ops.Add(StoreOp.Put(Kinds.Claim, e.Tenant, claimName, claim, ControlJson.Default.SandboxClaim));
        }
    }

    /// <summary>Finds sandboxes whose processes died while the daemon ran (killed from outside, the OOM killer took
    /// the agent, a host reboot of the runtime): marks them lost and cleans up what is left of them.</summary>
    private async Task CheckLivenessAsync(CancellationToken ct)
    {
        List<Entry> live;
        lock (_gate)
        {
            live = _sandboxes.Values.Where(e => e.Record is not null && !e.Deleting && e.Sandbox.Status.FinishedAt is null && e.InFlight == 0).ToList();
        }
        foreach (var e in live)
        {
            if (await _backend.StatusAsync(e.Record!, ct).ConfigureAwait(false) is SandboxState.Running or SandboxState.Suspended)
            {
                continue;
            }
            const string message = "its processes are gone (killed outside Airlock, or by the out-of-memory killer)";
            lock (_gate)
            {
                if (e.Deleting || !_sandboxes.ContainsValue(e) || e.InFlight > 0 || e.Sandbox.Status.FinishedAt is not null)
                {
                    continue;
                }
                var ops = new List<StoreOp>();
                MarkLost(e, message, ops);
                _store.Batch(ops);
            }
            await DestroyBackendAsync(e, ct).ConfigureAwait(false);
            lock (_gate)
            {
                e.Record = null;
            }
            await _audit.AppendAsync(new AuditEntry(e.Tenant, System, "sandbox.lost", e.Sandbox.Name, "allowed", "liveness", "lost", 0, message)).ConfigureAwait(false);
        }
    }

    /// <summary>One pass: liveness, expiry and idle timeouts, finished claims, pool sizes and staleness.</summary>
    public async Task ReconcileAsync(CancellationToken ct)
    {
        await CheckLivenessAsync(ct).ConfigureAwait(false);
        var now = Now;
        var expire = new List<(Entry Entry, string Reason, string Message)>();
        var deleteClaims = new List<(string Tenant, string Name, string Why)>();
        var destroyMembers = new List<(Entry Entry, string Why)>();
        var createMembers = new List<(string Tenant, string Pool, SandboxTemplate Template)>();
        var dirty = new List<StoreOp>();
        lock (_gate)
        {
            foreach (var e in _sandboxes.Values)
            {
                var s = e.Sandbox;
                if (e.LastActivity > s.Status.LastActivity.AddSeconds(1))
                {
                    e.Sandbox = s = s with { Status = s.Status with { LastActivity = e.LastActivity } };
                    dirty.Add(Put(e.Tenant, s));
                }
                if (!e.Ready && s.Spec.OperatingMode != OperatingModes.Suspended || e.Deleting || s.Status.WarmPool is not null || s.Status.FinishedAt is not null)
                {
                    continue;
                }
                var t = e.Template ?? e.Record?.Template;
                if (s.Spec.ShutdownTime is { } st && st <= now)
                {
                    expire.Add((e, Conditions.SandboxExpired, $"shutdownTime {st:O} reached"));
                }
                else if (t?.Lifetime.MaxLifetime is { } max && s.Status.StartedAt + Quantity.ParseDuration(max) <= now)
                {
                    expire.Add((e, Conditions.SandboxExpired, $"lifetime.maxLifetime {max} reached"));
                }
                else if (t?.Lifetime.IdleTimeout is { } idle && e.InFlight == 0 && s.Spec.OperatingMode == OperatingModes.Running
                    && e.LastActivity + Quantity.ParseDuration(idle) <= now)
                {
                    expire.Add((e, Conditions.IdleTimeout, $"no exec or file operation for {idle} (lifetime.idleTimeout)"));
                }
            }
            foreach (var ((tenant, name), c) in _claims)
            {
                if (c.Spec.Lifecycle.TtlSecondsAfterFinished is { } ttl && c.Status.FinishedAt is { } f && f.AddSeconds(ttl) <= now)
                {
                    deleteClaims.Add((tenant, name, $"ttlSecondsAfterFinished {ttl} elapsed"));
                }
            }
            foreach (var ((tenant, name), pool) in _pools)
            {
                SandboxTemplate template;
                if (_templates.TryGetValue((tenant, pool.Spec.SandboxTemplateRef!.Name), out var own))
                {
                    template = own;
                }
                else if (BuiltinTemplates.Find(pool.Spec.SandboxTemplateRef.Name) is { } builtin)
                {
                    template = builtin;
                }
                else
                {
                    continue;
                }
                var hash = HashOf(template);
                var members = _sandboxes.Values.Where(e => e.Tenant == tenant && e.Sandbox.Status.WarmPool == name && !e.Deleting).ToList();
                if (pool.Spec.UpdateStrategy.Type == UpdateStrategies.Recreate)
                {
                    foreach (var stale in members.Where(m => m.Sandbox.Status.TemplateHash != hash && m.Record is not null && m.InFlight == 0).ToList())
                    {
                        destroyMembers.Add((stale, "stale (template changed, updateStrategy Recreate)"));
                        members.Remove(stale);
                    }
                }
                var surplus = members.Count - pool.Spec.Replicas;
                foreach (var extra in members.Where(m => m.Record is not null && m.InFlight == 0)
                    .OrderBy(m => m.Sandbox.Status.TemplateHash == hash ? 1 : 0).ThenByDescending(m => m.Sandbox.Status.CreatedAt).Take(Math.Max(0, surplus)))
                {
                    destroyMembers.Add((extra, "pool scaled down"));
                }
                for (var i = members.Count; i < pool.Spec.Replicas; i++)
                {
                    createMembers.Add((tenant, name, template));
                }
            }
            foreach (var (e, _) in destroyMembers)
            {
                dirty.Add(Unlink(e));
            }
            _store.Batch(dirty);
        }
        foreach (var (e, reason, message) in expire)
        {
            await ExpireAsync(e, reason, message, ct).ConfigureAwait(false);
        }
        foreach (var (tenant, name, why) in deleteClaims)
        {
            try
            {
                await DeleteClaimAsync(tenant, name, ct).ConfigureAwait(false);
                await _audit.AppendAsync(new AuditEntry(tenant, System, "claim.delete", name, "allowed", "lifecycle.ttlSecondsAfterFinished", "ok", 0, why)).ConfigureAwait(false);
            }
            catch (AirlockException e) when (e.Code == AirlockException.ErrorCodes.NotFound)
            {
            }
        }
        foreach (var (e, why) in destroyMembers)
        {
            await DestroyBackendAsync(e, ct).ConfigureAwait(false);
            await _audit.AppendAsync(new AuditEntry(e.Tenant, System, "sandbox.delete", e.Sandbox.Name, "allowed", "warmPool", "ok", 0, why)).ConfigureAwait(false);
        }
        foreach (var (tenant, pool, template) in createMembers)
        {
            // Reserve now (so the next pass counts it), start in the background, bounded.
            Entry entry;
            try
            {
                entry = Reserve(tenant, NewName(pool), new SandboxSpec { SandboxTemplateRef = new NameRef(template.Name) }, template, pool, null);
            }
            catch (AirlockException)
            {
                continue;
            }
            var task = Task.Run(async () =>
            {
                await _createSlots.WaitAsync(_stop.Token).ConfigureAwait(false);
                await YieldToForegroundAsync(_stop.Token).ConfigureAwait(false);
                var sw = Stopwatch.StartNew();
                try
                {
                    await StartEntryAsync(entry, template, _stop.Token).ConfigureAwait(false);
                    await _audit.AppendAsync(new AuditEntry(tenant, System, "sandbox.create", entry.Sandbox.Name, "allowed", "warmPool", "ok", sw.Elapsed.TotalMilliseconds, $"pool={pool}")).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    await _audit.AppendAsync(new AuditEntry(tenant, System, "sandbox.create", entry.Sandbox.Name, "allowed", "warmPool", (ex as AirlockException)?.Code ?? "error", sw.Elapsed.TotalMilliseconds, ex.Message)).ConfigureAwait(false);
                    await Task.Delay(TimeSpan.FromSeconds(1), _stop.Token).ConfigureAwait(false);
                }
                finally
                {
                    _createSlots.Release();
                }
            }, CancellationToken.None);
            Track(task);
        }
    }

    private async Task ExpireAsync(Entry e, string reason, string message, CancellationToken ct)
    {
        SandboxClaim? claim = null;
        var delete = false;
        lock (_gate)
        {
            if (e.Deleting || !_sandboxes.ContainsValue(e))
            {
                return;
            }
            var s = e.Sandbox;
            var now = Now;
            if (s.Status.Claim is { } claimName && _claims.TryGetValue((e.Tenant, claimName), out var c))
            {
                claim = c with
                {
                    Status = c.Status with
                    {
                        Conditions = Conditions.Set(c.Status.Conditions, Conditions.Ready, Conditions.False, Conditions.ClaimExpired, message, now),
                        FinishedAt = now,
                    },
                };
                delete = c.Spec.Lifecycle.ShutdownPolicy == ShutdownPolicies.Delete;
            }
            else
            {
                delete = s.Spec.ShutdownPolicy == ShutdownPolicies.Delete;
            }
            var ops = new List<StoreOp>();
            if (delete)
            {
                ops.Add(Unlink(e));
                if (claim is not null)
                {
                    _claims.Remove((e.Tenant, claim.Name));
                    ops.Add(StoreOp.Delete(Kinds.Claim, e.Tenant, claim.Name));
                }
            }
            else
            {
                e.Sandbox = Finish(s, reason, message, now);
                ops.Add(Put(e.Tenant, e.Sandbox));
                if (claim is not null)
                {
                    _claims[(e.Tenant, claim.Name)] = claim;
                    ops.Add(StoreOp.Put(Kinds.Claim, e.Tenant, claim.Name, claim, ControlJson.Default.SandboxClaim));
                }
            }
            _store.Batch(ops);
        }
        await DestroyBackendAsync(e, ct).ConfigureAwait(false);
        lock (_gate)
        {
            e.Record = null;
        }
        await _audit.AppendAsync(new AuditEntry(e.Tenant, System, "sandbox.expire", e.Sandbox.Name, "allowed",
            reason == Conditions.IdleTimeout ? "lifetime.idleTimeout" : "lifecycle.shutdownTime", "ok", 0, message + (delete ? "; deleted" : "; retained"))).ConfigureAwait(false);
    }

    // ================================================================== helpers

    private static SandboxStatus WithRunning(SandboxStatus s, bool suspended, DateTimeOffset now) => s with
    {
        Conditions = suspended
            ? Conditions.Set(Conditions.Set(s.Conditions, Conditions.Ready, Conditions.False, Conditions.SandboxSuspended, "frozen: processes and workspace are kept", now),
                Conditions.Suspended, Conditions.True, Conditions.SandboxSuspended, "frozen by the cgroup freezer", now)
            : Conditions.Set(Conditions.Set(s.Conditions, Conditions.Ready, Conditions.True, Conditions.DependenciesReady, "running", now),
                Conditions.Suspended, Conditions.False, Conditions.SandboxResumed, "running", now),
    };

    private static Sandbox Finish(Sandbox s, string reason, string message, DateTimeOffset now) => s with
    {
        Status = s.Status with
        {
            BackendId = null,
            FinishedAt = now,
            Conditions = Conditions.Set(
                Conditions.Set(s.Status.Conditions, Conditions.Ready, Conditions.False, reason == Conditions.SandboxLost ? Conditions.ReconcilerError : Conditions.SandboxExpired, message, now),
                Conditions.Finished, Conditions.True, reason, message, now),
        },
    };

    private Sandbox Snapshot(Entry e) => e.Sandbox with { Status = e.Sandbox.Status with { LastActivity = e.LastActivity } };

    private static StoreOp Put(string tenant, Sandbox s) => StoreOp.Put(Kinds.Sandbox, tenant, s.Name, s, ControlJson.Default.Sandbox);

    private Entry Find(string tenant, string name) =>
        _sandboxes.TryGetValue((tenant, name), out var e) && !e.Deleting ? e : throw NotFound("sandbox", name);

    private static AirlockException NotFound(string kind, string name) =>
        new(AirlockException.ErrorCodes.NotFound, $"{kind} '{name}' does not exist", $"list them with: airlock {kind.Split(' ')[^1]} ls");

    private static string NewName(string prefix)
    {
        var suffix = Guid.NewGuid().ToString("N")[..(prefix == "sbx" ? 12 : 6)];
        return (prefix.Length > 55 ? prefix[..55] : prefix) + "-" + suffix;
    }

    private IEnumerable<Measurement<long>> ObserveSandboxes()
    {
        lock (_gate)
        {
            return _sandboxes.Values
                .GroupBy(e => e.Sandbox.Status.FinishedAt is not null ? "finished"
                    : e.Sandbox.Spec.OperatingMode == OperatingModes.Suspended ? "suspended"
                    : e.Ready ? (e.Sandbox.Status.WarmPool is not null ? "warm" : "ready") : "starting")
                .Select(g => new Measurement<long>(g.Count(), new KeyValuePair<string, object?>("state", g.Key)))
                .ToList();
        }
    }

    private IEnumerable<Measurement<long>> ObservePools()
    {
        lock (_gate)
        {
            return _pools.Select(kv => new Measurement<long>(PoolStatus(kv.Key.Tenant, kv.Key.Name).ReadyReplicas,
                new KeyValuePair<string, object?>("pool", kv.Key.Name))).ToList();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }
        Task[] pending;
        lock (_background)
        {
            pending = [.. _background];
        }
        try
        {
            await Task.WhenAll(pending).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        _stop.Dispose();
    }
}
