using System.Diagnostics;
using Airlock.Guest.Protocol;
using Wasmtime;

namespace Airlock.Backends.Wasm.Engine;

/// <summary>Everything one exec needs, resolved from the template and the exec spec.</summary>
/// <param name="Args">WASI argv: the module path as given, then the arguments.</param>
/// <param name="Env">The complete environment; nothing comes from the host.</param>
/// <param name="Workspace">Host directory preopened at <paramref name="GuestWorkspace"/>, or null for none.</param>
/// <param name="StdinFile">Host file the module reads as stdin, or null for an empty stdin.</param>
internal sealed record ExecPlan(
    IReadOnlyList<string> Args,
    IReadOnlyList<(string Name, string Value)> Env,
    string? Workspace,
    string GuestWorkspace,
    bool WorkspaceWritable,
    string? StdinFile,
    long MemoryLimit,
    long Fuel,
    int MaxTableElements);

/// <summary>Runs a WASI command module to completion in a fresh store and reports how it ended.</summary>
internal static class WasmRunner
{
    /// <summary>Exit status of a trapped module: 128 + SIGABRT, as Wasmtime's CLI and a native abort() report.</summary>
    public const int TrapExitCode = 134;
    private const int TrapSignal = 6;

    /// <summary>Exit status of a killed module: 128 + SIGKILL, as the OCI class reports a killed process.</summary>
    public const int KilledExitCode = 137;
    private const int KilledSignal = 9;

    public static WasmExecResult Run(WasmEngine engine, Module module, ExecPlan plan, ExecContext exec)
    {
        var started = Stopwatch.GetTimestamp();
        var wasi = new WasiConfiguration()
            .WithArgs(plan.Args)
            .WithEnvironmentVariables(plan.Env.Select(e => (e.Name, e.Value)))
            .WithStandardOutputCallback(exec.OnStdout)
            .WithStandardErrorCallback(exec.OnStderr);
        if (plan.StdinFile is not null)
        {
            wasi.WithStandardInput(plan.StdinFile);
        }
        if (plan.Workspace is not null)
        {
            wasi.WithPreopenedDirectory(plan.Workspace, plan.GuestWorkspace, plan.WorkspaceWritable);
        }
        using var store = new Store(engine.Engine, exec);
        // One instance with one memory and one table: what a WASI command module needs, and what a pool slot holds.
        store.SetLimits(memorySize: plan.MemoryLimit, tableElements: (uint)plan.MaxTableElements, instances: 1, tables: 1, memories: 1);
        store.Fuel = (ulong)plan.Fuel;
        store.SetWasiConfiguration(wasi);
        // Deadline first, kill check second: a kill after the check bumps the epoch past this deadline.
        store.SetEpochDeadline(1);
        store.SetEpochDeadlineCallback(static s => ((ExecContext)s.GetData()!).OnEpoch());

        int exitCode = 0;
        int? signal = null;
        string? trap = null;
        string? trapMessage = null;
        Instance? instance = null;
        try
        {
            if (exec.KillReason is null)
            {
                instance = engine.Linker.Instantiate(store, module);
                var start = instance.GetAction("_start") ?? throw new WasmModuleException(
                    "the module exports no _start function: it is not a WASI command (a reactor or library module cannot be run)");
                start();
            }
        }
        catch (WasmtimeException e) when (e.ExitCode is int code)
        {
            exitCode = code;
        }
        catch (WasmtimeException e) when (exec.KillReason is not null)
        {
            // Unwound by the epoch callback (timeout, output cap, teardown, cancellation); a module may also have
            // trapped on its own in the same instant. Reported through exec.KillReason below.
            _ = e;
        }
        catch (TrapException e)
        {
            (trap, trapMessage) = (TrapName(e.Type), FirstLine(e.Message));
        }
        catch (WasmtimeException e)
        {
            throw new WasmModuleException("the module cannot be run: " + FirstLine(e.Message), e);
        }

        var memoryBytes = instance?.GetMemory("memory")?.GetLength() ?? 0;
        string? reason = exec.KillReason;
        if (trap == "out-of-fuel")
        {
            reason ??= WasmKillReasons.Fuel;
        }
        if (reason is not null)
        {
            (exitCode, signal) = (KilledExitCode, KilledSignal);
        }
        else if (trap is not null)
        {
            (exitCode, signal) = (TrapExitCode, TrapSignal);
        }
        // A store refuses growth past its limit by returning -1 from memory.grow (malloc returns NULL); nothing is
        // killed. When the module then fails with its memory at the limit, say why.
        if (reason is null && (exitCode != 0 || trap is not null) && memoryBytes + Math.Max(1 << 20, plan.MemoryLimit / 16) > plan.MemoryLimit)
        {
            reason = KillReasons.Memory;
        }
        var result = new ExecResult(exitCode, signal, reason, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds,
            exec.StdoutBytes, exec.StderrBytes, exec.Truncated);
        return new WasmExecResult(result, trap, trapMessage, memoryBytes);
    }

    private static string FirstLine(string message) => message.Split('\n', 2)[0].Trim();

    /// <summary>Trap codes as stable kebab-case names (<c>unreachable</c>, <c>out-of-fuel</c>,
    /// <c>memory-out-of-bounds</c>, <c>stack-overflow</c>, ...).</summary>
    public static string TrapName(TrapCode code)
    {
        var name = code.ToString();
        var chars = new System.Text.StringBuilder(name.Length + 4);
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0)
            {
                chars.Append('-');
            }
            chars.Append(char.ToLowerInvariant(name[i]));
        }
        return chars.ToString();
    }
}

/// <summary>Why a module cannot run at all (not WASI, wrong imports): the caller's mistake, not the module's
/// behaviour.</summary>
internal sealed class WasmModuleException(string message, Exception? inner = null) : Exception(message, inner);
