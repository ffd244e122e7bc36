using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Airlock.Backends.Oci.Bundle;
using Airlock.Backends.Oci.Cgroups;
using Airlock.Backends.Oci.Native;
using Airlock.Backends.Oci.Runtime;
using Airlock.Core;
using Airlock.Core.Backends;
using Airlock.Core.Model;
using Airlock.Core.Storage;
using Airlock.Core.Util;
using Airlock.Guest.Protocol;

namespace Airlock.Backends.Oci;

/// <summary>Options of the OCI backend.</summary>
/// <param name="GuestBinary">Host path of the NativeAOT <c>airlock-guest</c>; found next to the program when null.</param>
/// <param name="UserNamespaceHostId">First host uid/gid of the range sandbox users map to.</param>
/// <param name="Egress">Runs the egress proxies of sandboxes with network mode <c>egress</c>; without it such
/// templates are refused.</param>
public sealed record OciOptions(string? GuestBinary = null, uint UserNamespaceHostId = 0x7000_0000, IEgressGateway? Egress = null);

/// <summary>
/// Hardened Linux containers driven through an OCI runtime (crun, runc, runsc). Each sandbox is a bundle directory
/// with its own tmpfs workspace and /tmp, a cgroup Airlock owns, and <c>airlock-guest</c> as PID 1. Ephemeral runs talk
/// to the guest over the container's stdio; long-lived sandboxes over a Unix socket bind-mounted into the sandbox.
/// </summary>
public sealed class OciBackend : IIsolationBackend, IReapingBackend, IReattachingBackend
{
    private static readonly TimeSpan HostGrace = TimeSpan.FromSeconds(3);
    private readonly SandboxStore _store;
    private readonly OciOptions _options;
    private readonly CgroupLayout _layout;
    private readonly RootFsBuilder _rootFs;
    private readonly Dictionary<string, RuntimeDriver> _drivers = [];
    private readonly Dictionary<string, IEgressSession> _egress = [];
    private readonly string _cgroupParent;

    private SandboxCgroup Cgroup(string id) => new(_layout, _cgroupParent, id);

    public OciBackend(SandboxStore store, OciOptions? options = null)
    {
        _store = store;
        _options = options ?? new OciOptions();
        _layout = CgroupLayout.Detect();
        _rootFs = new RootFsBuilder(store.Paths.Shared);
        PrepareStateRoot(store.Paths.Root);
        _cgroupParent = SandboxCgroup.ParentFor(store.Paths.Root);
    }

    /// <summary>Sandbox users (mapped to unprivileged host ids) must be able to traverse the state directory to reach
    /// their bind-mounted root, workspace and socket, but not to list it: 0711 on every directory on the way.</summary>
    private static void PrepareStateRoot(string root)
    {
        // Checked before anything is created, so a refused state directory leaves nothing behind.
        for (var dir = Path.GetDirectoryName(root); dir is not null; dir = Path.GetDirectoryName(dir))
        {
            if (Directory.Exists(dir) && (File.GetUnixFileMode(dir) & UnixFileMode.OtherExecute) == 0)
            {
                throw new AirlockException(AirlockException.ErrorCodes.HostUnsupported,
                    $"state directory {root} is not reachable by sandbox users: {dir} has no execute permission for others",
                    "set AIRLOCK_HOME to a path such as /var/lib/airlock, or chmod o+x " + dir);
            }
        }
        Directory.CreateDirectory(root);
        const UnixFileMode traverse = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        File.SetUnixFileMode(root, File.GetUnixFileMode(root) | traverse);
        foreach (var sub in new[] { "sandboxes", "shared", "runtime" })
        {
            Directory.CreateDirectory(Path.Combine(root, sub), traverse);
        }
    }

    public string IsolationClass => IsolationClasses.Oci;

    public CgroupLayout Cgroups => _layout;

    public void CheckEnforceable(SandboxTemplate t, Action<string, string> addError)
    {
        if (t.Workspace.Access != WorkspaceAccessModes.ReadWrite)
        {
            addError("workspace.access", $"the oci class always mounts the workspace read-write (it is where commands run); '{t.Workspace.Access}' is for the wasm class");
        }
        if (t.Network.Mode == NetworkModes.Egress && _options.Egress is null)
        {
            addError("network.mode", "'egress' needs an egress proxy, which this command does not run: use `airlock run`, or a daemon (`airlock serve`, AIRLOCK_HOST) for long-lived sandboxes");
        }
        if (RuntimeDriver.Find(t.Isolation.Runtime) is null)
        {
            addError("isolation.runtime", $"'{t.Isolation.Runtime}' is not installed on this host (apt-get install {t.Isolation.Runtime})");
        }
        if (t.Isolation.Runtime == OciRuntimes.Runsc && t.Isolation.UserNamespace == UserNamespaceModes.Required)
        {
            addError("isolation.userNamespace", "runsc cannot enforce 'required': gVisor does not take OCI user namespace mappings (its user-space kernel is the boundary); use 'auto'");
        }
        var memRoot = _layout.Unified ? _layout.Root : Path.Combine(_layout.Root, "memory");
        if (!Directory.Exists(memRoot))
        {
            addError("resources.memory", "this host has no memory cgroup controller, so the limit cannot be enforced");
        }
        if (!_layout.Unified && !Directory.Exists(Path.Combine(_layout.Root, "pids")))
        {
            addError("resources.pids", "this host has no pids cgroup controller, so the limit cannot be enforced");
        }
    }

    // ---------------------------------------------------------------- lifecycle

    public async Task<SandboxRecord> CreateAsync(SandboxTemplate template, CancellationToken ct)
    {
        // Owned by this process until ready, so a concurrent reaper leaves it alone while it starts.
        var record = NewRecord(template, ephemeral: false);
        var driver = Driver(template);
        try
        {
            Prepare(record, driver, ["serve", "--socket", GuestPaths.Socket, "--workspace", template.Workspace.Path]);
            var log = Path.Combine(_store.Paths.Sandbox(record.Id), "runtime.log");
            var code = await Task.Run(() => driver.RunDetached(["run", "--detach", "--bundle", _store.Paths.Sandbox(record.Id), record.Id], log), ct).ConfigureAwait(false);
            if (code != 0)
            {
                throw RuntimeFailed(driver, File.ReadAllText(log));
            }
            await WaitForGuestAsync(record, TimeSpan.FromSeconds(20), ct).ConfigureAwait(false);
            record = record with { OwnerPid = 0, OwnerStartTicks = 0 };
            _store.Save(record);
            return record;
        }
        catch
        {
            await DestroyAsync(record, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    public async Task<ExecResult> ExecAsync(SandboxRecord sandbox, ExecSpec spec, ExecIo io, CancellationToken ct)
    {
        var cgroup = Cgroup(sandbox.Id);
        cgroup.ResetMemoryPeak();
        var request = ToRequest(sandbox.Template, spec, io.Stdin is not null);
        using var socket = await ConnectAsync(sandbox, ct).ConfigureAwait(false);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        using var backstop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        backstop.CancelAfter(TimeSpan.FromMilliseconds(request.TimeoutMs) + HostGrace);
        ExecResult result;
        try
        {
            result = await GuestClient.ExecAsync(stream, stream, request, io.Stdin, io.Stdout, io.Stderr, backstop.Token).ConfigureAwait(false);
        }
        catch (GuestErrorException e) when (e.Code == Guest.Protocol.ErrorCodes.SpawnFailed)
        {
            return await SpawnFailedAsync(e, io, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            // The guest did not enforce the timeout (it is inside the boundary and may be subverted). Stop waiting:
            // closing the connection makes an honest guest kill the group, and whatever a subverted one keeps running
            // stays inside the sandbox's cgroup limits until the sandbox is destroyed.
            return new ExecResult(137, 9, KillReasons.Timeout, (long)(request.TimeoutMs + HostGrace.TotalMilliseconds), 0, 0, false);
        }
        return WithHostReason(result, cgroup.MemoryLimitReached());
    }

    public ISandboxFiles Files(SandboxRecord sandbox) => new GuestFiles(this, sandbox);

    public async Task DestroyAsync(SandboxRecord sandbox, CancellationToken ct)
    {
        var driver = Driver(sandbox.Template);
        var cgroup = Cgroup(sandbox.Id);
        if (cgroup.IsFrozen)
        {
            // The runtime waits for its killed processes to exit, which frozen ones never do.
            cgroup.Freeze(false);
        }
        if (driver.HasState(sandbox.Id))
        {
            // Kill every process through the cgroup (frozen first, so nothing forks away) rather than with a
            // `kill` call of the runtime: one runtime start less per teardown. `delete --force` then only has
            // state to remove (and kills whatever a runtime keeps outside the cgroup, such as gVisor's gofer).
            cgroup.Destroy();
            await driver.DeleteAsync(sandbox.Id, ct).ConfigureAwait(false);
        }
        cgroup.Destroy();
        PhaseTrace.Mark("cgroups removed");
        CloseEgress(sandbox.Id);
        Cleanup(sandbox.Id);
    }

    public Task<SandboxState> StatusAsync(SandboxRecord sandbox, CancellationToken ct)
    {
        if (!Directory.Exists(_store.Paths.Sandbox(sandbox.Id)))
        {
            return Task.FromResult(SandboxState.Gone);
        }
        var cgroup = Cgroup(sandbox.Id);
        var state = cgroup.Processes().Count == 0 ? (sandbox.OwnerPid != 0 ? SandboxState.Creating : SandboxState.Stopped)
            : cgroup.IsFrozen ? SandboxState.Suspended
            : SandboxState.Running;
        return Task.FromResult(state);
    }

    public Task SuspendAsync(SandboxRecord sandbox, CancellationToken ct)
    {
        var cgroup = RunningCgroup(sandbox);
        if (!cgroup.Freeze(true))
        {
            throw new AirlockException(AirlockException.ErrorCodes.HostUnsupported,
                $"cannot suspend {sandbox.Id}: this host has no cgroup freezer", "mount the freezer controller (cgroup v1) or use cgroup v2");
        }
        return Task.CompletedTask;
    }

    public Task ResumeAsync(SandboxRecord sandbox, CancellationToken ct)
    {
        RunningCgroup(sandbox).Freeze(false);
        return Task.CompletedTask;
    }

    private SandboxCgroup RunningCgroup(SandboxRecord sandbox)
    {
        var cgroup = Cgroup(sandbox.Id);
        if (cgroup.Processes().Count == 0)
        {
            throw new AirlockException(AirlockException.ErrorCodes.GuestUnavailable, $"sandbox {sandbox.Id} is not running", "create a new sandbox");
        }
        return cgroup;
    }

    public async Task<RunResult> RunAsync(SandboxTemplate template, ExecSpec spec, ExecIo io, CancellationToken ct)
    {
        var record = NewRecord(template, ephemeral: true);
        var driver = Driver(template);
        var cgroup = Cgroup(record.Id);
        Process? runtime = null;
        try
        {
            var request = ToRequest(template, spec, io.Stdin is not null);
            Prepare(record, driver, ["stdio", "--workspace", template.Workspace.Path]);
            PhaseTrace.Mark("prepared (record, tmpfs, cgroup, config.json)");
            runtime = driver.Start(["run", "--bundle", _store.Paths.Sandbox(record.Id), record.Id], redirectStdin: true, redirectStdout: true);
            PhaseTrace.Mark($"{driver.Name} started");
            var stderr = ReadCappedAsync(runtime.StandardError.BaseStream, 64 << 10);
            using var backstop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            backstop.CancelAfter(TimeSpan.FromMilliseconds(request.TimeoutMs) + HostGrace);
            ExecResult result;
            try
            {
                result = await GuestClient.ExecAsync(runtime.StandardOutput.BaseStream, runtime.StandardInput.BaseStream, request, io.Stdin, io.Stdout, io.Stderr, backstop.Token).ConfigureAwait(false);
            }
            catch (GuestErrorException e) when (e.Code == Guest.Protocol.ErrorCodes.SpawnFailed)
            {
                result = await SpawnFailedAsync(e, io, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                cgroup.Destroy();
                result = new ExecResult(137, 9, KillReasons.Timeout, (long)(request.TimeoutMs + HostGrace.TotalMilliseconds), 0, 0, false);
            }
            catch (ProtocolException)
            {
                // The guest never answered: the runtime failed to start the container, or the sandbox was killed
                // as a whole (the OOM killer may pick the guest itself).
                await runtime.WaitForExitAsync(ct).ConfigureAwait(false);
                result = SandboxKilled(cgroup) ?? throw RuntimeFailed(driver, await stderr.ConfigureAwait(false));
            }
            PhaseTrace.Mark("exec result received");
            try
            {
                runtime.StandardInput.Close();
            }
            catch (IOException)
            {
            }
            using (var exitWait = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                exitWait.CancelAfter(HostGrace);
                try
                {
                    await runtime.WaitForExitAsync(exitWait.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    cgroup.Destroy();
                    await runtime.WaitForExitAsync(ct).ConfigureAwait(false);
                }
            }
            PhaseTrace.Mark($"{driver.Name} exited");
            return new RunResult(record.Id, WithHostReason(result, cgroup.MemoryLimitReached()));
        }
        finally
        {
            if (runtime is { HasExited: false })
            {
                cgroup.Destroy();
                runtime.Kill(entireProcessTree: true);
            }
            runtime?.Dispose();
            await DestroyAsync(record, CancellationToken.None).ConfigureAwait(false);
            PhaseTrace.Mark("destroyed");
        }
    }

    /// <summary>Destroys sandboxes whose owner died (a killed CLI or daemon), persistent sandboxes with no process
    /// left, half-created directories, and cgroups no sandbox owns. Returns the ids reaped.</summary>
    public async Task<IReadOnlyList<string>> ReapOrphansAsync(CancellationToken ct)
    {
        var reaped = new List<string>();
        var known = new HashSet<string>();
        foreach (var id in _store.ListIds())
        {
            known.Add(id);
            var record = _store.TryGet(id);
            bool dead;
            if (record is null)
            {
                // No record: a create that died before writing one. Give a concurrent creator time to write it.
                dead = Directory.GetCreationTimeUtc(_store.Paths.Sandbox(id)) < DateTime.UtcNow.AddSeconds(-30);
                record ??= NewRecord(BuiltinShell, ephemeral: true) with { Id = id };
            }
            else if (record.OwnerPid != 0)
            {
                dead = !ProcessIdentity.IsAlive(record.OwnerPid, record.OwnerStartTicks);
            }
            else
            {
                dead = Cgroup(id).Processes().Count == 0;
            }
            if (dead)
            {
                await DestroyAsync(record, ct).ConfigureAwait(false);
                reaped.Add(id);
            }
        }
        foreach (var id in SandboxCgroup.ListIds(_layout, _cgroupParent))
        {
            if (SandboxRecord.IsValidId(id) && !known.Contains(id))
            {
                Cgroup(id).Destroy();
                reaped.Add(id);
            }
        }
        return reaped;
    }

    // ---------------------------------------------------------------- internals

    private static readonly SandboxTemplate BuiltinShell = Core.Templates.BuiltinTemplates.Shell;

    private static SandboxRecord NewRecord(SandboxTemplate template, bool ephemeral) => new(
        SandboxRecord.NewId(), template, DateTimeOffset.UtcNow, ephemeral, Environment.ProcessId, ProcessIdentity.StartTicks(Environment.ProcessId));

    private RuntimeDriver Driver(SandboxTemplate t)
    {
        var name = t.Isolation.Runtime;
        lock (_drivers)
        {
            if (!_drivers.TryGetValue(name, out var d))
            {
                var binary = RuntimeDriver.Find(name) ?? throw new AirlockException(AirlockException.ErrorCodes.RuntimeMissing,
                    $"OCI runtime '{name}' is not installed", $"apt-get install {name}, or choose another --runtime");
                d = new RuntimeDriver(name, binary, _store.Paths.RuntimeRoot(name), _layout);
                _drivers[name] = d;
            }
            return d;
        }
    }

    private string GuestBinary()
    {
        var candidates = new[]
        {
            _options.GuestBinary,
            Environment.GetEnvironmentVariable("AIRLOCK_GUEST"),
            Path.Combine(AppContext.BaseDirectory, "airlock-guest"),
            // The daemon (artifacts/server) beside the CLI and agent (artifacts/bin).
            Path.Combine(AppContext.BaseDirectory, "..", "bin", "airlock-guest"),
        };
        return candidates.FirstOrDefault(c => !string.IsNullOrEmpty(c) && File.Exists(c))
            ?? throw new AirlockException(AirlockException.ErrorCodes.GuestUnavailable,
                "the in-sandbox agent airlock-guest was not found next to the program or in AIRLOCK_GUEST",
                "build it with ./build.sh (dotnet publish src/Airlock.Guest -r linux-x64 -p:PublishAot=true)");
    }

    /// <summary>Writes the record first (so a crash is reapable), then mounts, cgroups and the bundle. Undone by
    /// <see cref="DestroyAsync"/> on failure.</summary>
    private void Prepare(SandboxRecord record, RuntimeDriver driver, IReadOnlyList<string> guestArgs)
    {
        var t = record.Template;
        _store.Save(record);
        PhaseTrace.Mark("record saved");
        var dir = _store.Paths.Sandbox(record.Id);
        uint? userNs = driver.SupportsUserNamespace && t.Isolation.UserNamespace != UserNamespaceModes.Off ? _options.UserNamespaceHostId : null;
        var rootId = userNs ?? 0;
        var sandboxUid = rootId + 65534;
        var workspace = Path.Combine(dir, "workspace");
        var tmp = Path.Combine(dir, "tmp");
        var run = Path.Combine(dir, "run");
        MountTmpfs(workspace, Quantity.ParseBytes(t.Workspace.Size), "0755", sandboxUid);
        MountTmpfs(tmp, Quantity.ParseBytes(t.Resources.Disk), "1777", rootId);
        Directory.CreateDirectory(run);
        if (Libc.Chown(run, sandboxUid, sandboxUid) != 0)
        {
            throw new IOException($"chown {run}: {Libc.ErrorText(Libc.Errno)}");
        }
        if (t.Network.Mode == NetworkModes.Egress)
        {
            guestArgs = [.. guestArgs, .. OpenEgress(record.Id, t.Network, run)];
        }
        PhaseTrace.Mark("tmpfs mounted");
        var cgroup = Cgroup(record.Id);
        cgroup.Create(new CgroupLimits(Quantity.ParseBytes(t.Resources.Memory), t.Resources.Cpus, t.Resources.Pids));
        PhaseTrace.Mark("cgroup created");
        var extra = new List<(string Host, string Path, bool ReadOnly)>();
        var points = new List<(string Path, bool IsFile)>();
        for (var i = 0; i < t.Mounts.Count; i++)
        {
            var m = t.Mounts[i];
            // Bind what the path really is: a symlink may not lead the mount into a directory the validator refuses.
            var real = Libc.Realpath(m.Host) ?? throw new AirlockException(AirlockException.ErrorCodes.InvalidTemplate,
                $"mounts[{i}].host: '{m.Host}' does not exist on this host", "create it, or fix the path");
            if (Core.Validation.TemplateValidator.MountHostProblem(real) is { } problem)
            {
                throw new AirlockException(AirlockException.ErrorCodes.InvalidTemplate,
                    $"mounts[{i}].host: '{m.Host}' resolves to '{real}': {problem}", "mount the directory you mean, not a link into a protected one");
            }
            var isFile = File.Exists(real);
            extra.Add((real, m.Path, m.ReadOnly));
            points.Add((m.Path, isFile));
        }
        var rootFs = _rootFs.Prepare(t.RootFs.HostPaths, t.Workspace.Path, points);
        OciConfig.Write(dir, new BundleSpec
        {
            RootFs = rootFs.Root,
            EtcDir = rootFs.Etc,
            GuestBinary = GuestBinary(),
            WorkspaceSource = workspace,
            TmpSource = tmp,
            RunDir = run,
            WorkspacePath = t.Workspace.Path,
            HostDirBinds = rootFs.DirBinds,
            ExtraMounts = extra,
            Args = [GuestPaths.Binary, .. guestArgs],
            // The guest resolves commands with the exec's own PATH; its own environment only needs this much.
            Env = ["PATH=/usr/local/bin:/usr/bin:/bin"],
            Hostname = t.RootFs.Hostname,
            CgroupsPath = cgroup.RuntimePath,
            Cpus = t.Resources.Cpus,
            Pids = t.Resources.Pids,
            OpenFiles = t.Resources.OpenFiles,
            UserNamespaceHostId = userNs,
            SeccompErrnoRetHonoured = driver.Name != OciRuntimes.Runsc,
        });
    }

    /// <summary>Starts the sandbox's egress proxy on <c>run/egress.sock</c> (and writes its CA where the sandbox
    /// trusts it); returns the guest's forwarder arguments.</summary>
    private string[] OpenEgress(string id, NetworkSpec network, string run)
    {
        var gateway = _options.Egress ?? throw new AirlockException(AirlockException.ErrorCodes.InvalidTemplate,
            "network.mode: 'egress' needs an egress proxy, which this command does not run", "use `airlock run`, or a daemon (`airlock serve`)");
        var socket = Path.Combine(run, "egress.sock");
        var session = gateway.Open(id, network, socket);
        lock (_egress)
        {
            _egress[id] = session;
        }
        // The forwarder runs as the sandbox's (mapped) root; the socket's directory is reachable only from the sandbox.
        File.SetUnixFileMode(socket, (UnixFileMode)0b110_110_110);
        if (session.CaCertificatePem is { } pem)
        {
            File.WriteAllText(Path.Combine(run, Path.GetFileName(NetworkEnvironment.CaPath)), pem);
        }
        return ["--egress-socket", GuestPaths.RunDir + "/egress.sock", "--egress-port", NetworkEnvironment.ProxyPort.ToString(System.Globalization.CultureInfo.InvariantCulture)];
    }

    /// <summary>Restarts the egress proxy of a sandbox this process did not create (a daemon adopting the sandboxes
    /// of its previous run). The forwarder inside connects per connection, so a new socket at the same path serves.</summary>
    public void Reattach(SandboxRecord sandbox)
    {
        if (sandbox.Template.Network.Mode != NetworkModes.Egress)
        {
            return;
        }
        lock (_egress)
        {
            if (_egress.ContainsKey(sandbox.Id))
            {
                return;
            }
        }
        var run = Path.Combine(_store.Paths.Sandbox(sandbox.Id), "run");
        File.Delete(Path.Combine(run, "egress.sock"));
        _ = OpenEgress(sandbox.Id, sandbox.Template.Network, run);
    }

    private void CloseEgress(string id)
    {
        IEgressSession? session;
        lock (_egress)
        {
            _egress.Remove(id, out session);
        }
        session?.Dispose();
    }

    private static void MountTmpfs(string target, long size, string mode, uint owner)
    {
        Directory.CreateDirectory(target);
        var data = $"size={size},mode={mode},uid={owner},gid={owner}";
        if (Libc.Mount("airlock", target, "tmpfs", Libc.MS_NOSUID | Libc.MS_NODEV, data) != 0)
        {
            var errno = Libc.Errno;
            throw new AirlockException(AirlockException.ErrorCodes.HostUnsupported,
                $"cannot mount the sandbox's tmpfs at {target}: {Libc.ErrorText(errno)}", "run Airlock as root");
        }
    }

    /// <summary>Unmounts and removes the sandbox directory. Refuses to delete recursively while anything is still
    /// mounted below it, so a failed unmount can never delete through into another filesystem.</summary>
    private void Cleanup(string id)
    {
        var dir = _store.Paths.Sandbox(id);
        if (!Directory.Exists(dir))
        {
            return;
        }
        foreach (var m in MountTable.Under(dir).OrderByDescending(m => m.Length))
        {
            _ = Libc.Umount2(m, Libc.MNT_DETACH);
        }
        var left = MountTable.Under(dir);
        if (left.Count > 0)
        {
            throw new AirlockException(AirlockException.ErrorCodes.RuntimeFailed,
                $"sandbox {id}: {left[0]} is still mounted; its directory was kept", "unmount it by hand and run any airlock command to finish the cleanup");
        }
        Directory.Delete(dir, recursive: true);
    }

    private static ExecRequest ToRequest(SandboxTemplate t, ExecSpec spec, bool stdin)
    {
        var env = new Dictionary<string, string>(NetworkEnvironment.For(t.Network));
        foreach (var (k, v) in t.Env)
        {
            env[k] = v;
        }
        foreach (var (k, v) in spec.Env ?? new Dictionary<string, string>())
        {
            env[k] = v;
        }
        var timeout = spec.Timeout ?? Quantity.ParseDuration(t.Resources.Timeout);
        var output = spec.OutputLimit ?? Quantity.ParseBytes(t.Resources.OutputLimit);
        return new ExecRequest(
            spec.Argv,
            env.Select(kv => $"{kv.Key}={kv.Value}").ToList(),
            spec.Cwd ?? t.Workspace.Path,
            (long)timeout.TotalMilliseconds,
            output,
            stdin);
    }

    /// <summary>Why a whole sandbox died under its workload, when a limit explains it: under gVisor the memory and
    /// pids limits also bound the user-space kernel, which then dies with the workload instead of refusing it.</summary>
    private static ExecResult? SandboxKilled(SandboxCgroup cgroup) =>
        cgroup.MemoryLimitReached() ? new ExecResult(137, 9, KillReasons.Memory, 0, 0, 0, false)
        : cgroup.PidsLimitReached() ? new ExecResult(137, 9, KillReasons.Pids, 0, 0, 0, false)
        : null;

    private static ExecResult WithHostReason(ExecResult result, bool oomKilled) =>
        oomKilled && result.KilledReason is null && result.Signal == 9
            ? result with { KilledReason = KillReasons.Memory }
            : result;

    private static async Task<ExecResult> SpawnFailedAsync(GuestErrorException e, ExecIo io, CancellationToken ct)
    {
        await io.Stderr(Encoding.UTF8.GetBytes("airlock: " + e.Message + "\n"), ct).ConfigureAwait(false);
        return new ExecResult(127, null, null, 0, 0, 0, false);
    }

    private static AirlockException RuntimeFailed(RuntimeDriver driver, string output)
    {
        var firstLine = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? "no output";
        return new AirlockException(AirlockException.ErrorCodes.RuntimeFailed,
            $"{driver.Name} failed to start the sandbox: {firstLine}", "run 'airlock doctor' to check the host");
    }

    private static async Task<string> ReadCappedAsync(Stream s, int cap)
    {
        var buf = new MemoryStream();
        var chunk = new byte[4096];
        int n;
        while ((n = await s.ReadAsync(chunk).ConfigureAwait(false)) > 0)
        {
            if (buf.Length < cap)
            {
                buf.Write(chunk, 0, (int)Math.Min(n, cap - buf.Length));
            }
        }
        return Encoding.UTF8.GetString(buf.ToArray());
    }

    private async Task WaitForGuestAsync(SandboxRecord record, TimeSpan limit, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        var delay = 1;
        while (true)
        {
            try
            {
                using var s = await ConnectAsync(record, ct).ConfigureAwait(false);
                await using var ns = new NetworkStream(s, ownsSocket: false);
                await GuestClient.PingAsync(ns, ns, ct).ConfigureAwait(false);
                return;
            }
            catch (Exception e) when (e is SocketException or IOException or ProtocolException or AirlockException)
            {
                if (sw.Elapsed > limit)
                {
                    throw new AirlockException(AirlockException.ErrorCodes.GuestUnavailable,
                        $"sandbox {record.Id} started but its agent did not answer within {limit.TotalSeconds:0} s", "run 'airlock doctor' to check the host");
                }
                await Task.Delay(delay, ct).ConfigureAwait(false);
                delay = Math.Min(delay * 2, 50);
            }
        }
    }

    internal async Task<Socket> ConnectAsync(SandboxRecord sandbox, CancellationToken ct)
    {
        if (Cgroup(sandbox.Id).IsFrozen)
        {
            throw new AirlockException(AirlockException.ErrorCodes.Suspended, $"sandbox {sandbox.Id} is suspended",
                $"resume it with: airlock sandbox resume {sandbox.Id}");
        }
        var path = Path.Combine(_store.Paths.Sandbox(sandbox.Id), "run", "guest.sock");
        if (!File.Exists(path))
        {
            throw new AirlockException(AirlockException.ErrorCodes.GuestUnavailable, $"sandbox {sandbox.Id} is not running", "create a new sandbox");
        }
        return await GuestClient.ConnectAsync(path, ct).ConfigureAwait(false);
    }
}
