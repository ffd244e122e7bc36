using System.Runtime.InteropServices;
using Airlock.Backends.Oci;
using Airlock.Backends.V8;
using Airlock.Backends.Wasm;
using Airlock.Client;
using Airlock.Core;
using Airlock.Core.Backends;
using Airlock.Core.Storage;
using Airlock.Core.Util;
using Airlock.Core.Validation;
using Airlock.Egress.Gateway;
using Airlock.Egress.Proxy;

namespace Airlock.Cli;

/// <summary>The composition root of one CLI invocation: state paths, store and backends.</summary>
internal sealed class Context
{
    private readonly Lazy<OciBackend> _oci;
    private readonly Lazy<WasmBackend> _wasm;
    private readonly Lazy<V8Backend> _v8;

    public Context()
    {
        Paths = AirlockPaths.FromEnvironment();
        Store = new SandboxStore(Paths);
        // Built on first use: commands that only read templates need no state directory (and no root).
        _oci = new Lazy<OciBackend>(() => new OciBackend(Store, new OciOptions(Egress: new EgressGateway(new EgressGatewayOptions
        {
            Audit = ReportEgress,
            UpstreamTrustedRoots = EgressGatewayOptions.TrustedRootsFromEnvironment(),
        }))));
        _wasm = new Lazy<WasmBackend>(() => new WasmBackend(Paths));
        // One command, one execution: one worker of the language it uses (started on first use), not a pool.
        _v8 = new Lazy<V8Backend>(() => new V8Backend(Paths, new V8Options { JsWorkers = 1, PythonWorkers = 1 }));
        Remote = AirlockClient.FromEnvironment();
    }

    /// <summary>The daemon every sandbox verb goes through when <c>AIRLOCK_HOST</c> (or <c>--host</c>) is set.</summary>
    public AirlockClient? Remote { get; }

    /// <summary>Backends to check a template against locally; none when a daemon will check it.</summary>
    public IEnumerable<IIsolationBackend>? ValidationBackends => Remote is null ? Backends : null;

    public AirlockClient RequireRemote(string verb) => Remote ?? throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument,
        $"'{verb}' manages a daemon's resources, and no daemon is set",
        "start one (airlock serve --data-dir DIR), then set AIRLOCK_HOST=unix:DIR/airlock.sock and AIRLOCK_TOKEN");

    /// <summary>Without a daemon there is no audit log: a refused connection is said on stderr, since the program
    /// inside usually reports only "connection refused" or a 403.</summary>
    private static void ReportEgress(EgressEvent e)
    {
        if (!e.Allowed || e.SecretsWithheld is { Count: > 0 })
        {
            Console.Error.WriteLine($"airlock: egress {(e.Allowed ? "allowed" : "denied")}: {e.Protocol} {(e.Host.Length > 0 ? $"{e.Host}:{e.Port}" : "(no target)")} [{e.Rule}] {e.Reason}");
        }
    }

    public AirlockPaths Paths { get; }
    public SandboxStore Store { get; }
    public OciBackend Oci => _oci.Value;

    /// <summary>Every class this CLI serves, each built on first use (a Wasmtime engine costs an oci run nothing).</summary>
    public IEnumerable<IIsolationBackend> Backends
    {
        get
        {
            yield return Oci;
            yield return _wasm.Value;
            yield return _v8.Value;
        }
    }

    public IIsolationBackend BackendFor(string isolationClass) => isolationClass switch
    {
        Core.Model.IsolationClasses.Wasm => _wasm.Value,
        Core.Model.IsolationClasses.V8 => _v8.Value,
        _ => Oci,
    };

    /// <summary>Runs a command body, with the reaping every sandbox command owes a killed predecessor (<paramref
    /// name="reap"/>), and turns errors into one line of cause and one of remedy.</summary>
    public static async Task<int> Guard(Func<Context, CancellationToken, Task<int>> body, CancellationToken outer, bool reap = true)
    {
        // A signal cancels the command instead of killing the process, so the sandbox is torn down first.
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(outer);
        var signal = 0;
        void OnSignal(PosixSignalContext c)
        {
            c.Cancel = true;
            signal = c.Signal switch { PosixSignal.SIGINT => 2, PosixSignal.SIGHUP => 1, _ => 15 };
            cts.Cancel();
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, OnSignal);
        var ct = cts.Token;
        try
        {
            PhaseTrace.Mark("command parsed");
            var ctx = new Context();
            using var remote = ctx.Remote;
            if (reap && remote is null)
            {
                await ctx.Oci.ReapOrphansAsync(ct).ConfigureAwait(false);
            }
            PhaseTrace.Mark("orphans reaped");
            return await body(ctx, ct).ConfigureAwait(false);
        }
        catch (ValidationException e)
        {
            ErrorReport.Write(e, Console.Error);
            return ExitCodes.Usage;
        }
        catch (AirlockException e)
        {
            ErrorReport.Write(e, Console.Error);
            return e.Code is AirlockException.ErrorCodes.InvalidArgument or AirlockException.ErrorCodes.NotFound or AirlockException.ErrorCodes.File
                ? ExitCodes.Usage
                : ExitCodes.Internal;
        }
        catch (UnauthorizedAccessException e)
        {
            Console.Error.WriteLine($"airlock: error: {e.Message}");
            Console.Error.WriteLine("  remedy: run Airlock as root (it mounts workspaces and creates cgroups)");
            return ExitCodes.Internal;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            Console.Error.WriteLine("airlock: interrupted; the sandbox was torn down");
            return 128 + (signal == 0 ? 2 : signal);
        }
    }
}

internal static class ExitCodes
{
    /// <summary>Bad input (like docker's 125 for errors of the tool itself rather than of the command).</summary>
    public const int Usage = 125;
    public const int Internal = 125;
}
