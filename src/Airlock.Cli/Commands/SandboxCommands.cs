using System.CommandLine;
using System.Text.Json;
using Airlock.Core;
using Airlock.Core.Backends;
using Airlock.Core.Control;
using Airlock.Core.Model;
using Airlock.Guest.Protocol;
using Spectre.Console;

namespace Airlock.Cli.Commands;

/// <summary><c>airlock sandbox create|exec|cp|ls|rm</c>: sandboxes that live across commands.</summary>
internal static class SandboxCommands
{
    public static Command Create()
    {
        var group = new Command("sandbox", "Manage sandboxes that live across commands.");
        group.Subcommands.Add(CreateCmd());
        group.Subcommands.Add(ExecCmd());
        group.Subcommands.Add(CpCmd());
        group.Subcommands.Add(LsCmd());
        group.Subcommands.Add(RmCmd());
        group.Subcommands.Add(InspectCmd());
        group.Subcommands.Add(FreezeCmd("suspend", "Freeze a sandbox: its processes stop, memory and files are kept.", suspend: true));
        group.Subcommands.Add(FreezeCmd("resume", "Thaw a suspended sandbox.", suspend: false));
        return group;
    }

    private static Command CreateCmd()
    {
        var opts = new TemplateOptions();
        var name = new Option<string?>("--name") { Description = "name of the sandbox (with a daemon; default: generated)" };
        var cmd = new Command("create", "Start a sandbox and print its name.") { name };
        opts.AddTo(cmd);
        cmd.SetAction((p, ct) => Context.Guard(async (ctx, ct) =>
        {
            var template = await opts.ResolveAsync(p, ctx, "shell", ct).ConfigureAwait(false);
            if (ctx.Remote is null && template.Network.Mode == NetworkModes.Egress)
            {
                throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument,
                    "network.mode: 'egress' needs an egress proxy that outlives this command, and without a daemon the CLI's proxy ends with it",
                    "start a daemon (airlock serve) and set AIRLOCK_HOST, or use `airlock run` for a one-off command");
            }
            Func<Task<string>> create = ctx.Remote is { } remote
                ? async () => (await remote.CreateSandboxAsync(p.GetValue(name), null, template, ct).ConfigureAwait(false)).Name
                : p.GetValue(name) is not null
                    ? throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, "--name needs a daemon", "set AIRLOCK_HOST, or drop --name")
                    : async () => (await ctx.BackendFor(template.Isolation.Class).CreateAsync(template, ct).ConfigureAwait(false)).Id;
            string id;
            if (!Console.IsErrorRedirected)
            {
                id = await AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) })
                    .Status().StartAsync($"starting {template.Name} sandbox ({template.Isolation.Runtime})", _ => create()).ConfigureAwait(false);
            }
            else
            {
                id = await create().ConfigureAwait(false);
            }
            Console.Out.WriteLine(id);
            return 0;
        }, ct));
        return cmd;
    }

    private static Command ExecCmd()
    {
        var id = new Argument<string>("id") { Description = "sandbox id" };
        var cmdArgs = new Argument<string[]>("command") { Arity = ArgumentArity.OneOrMore, Description = "command and arguments, after --" };
        var timeout = new Option<string?>("--timeout") { Description = "wall-clock limit, e.g. 10s (default: the template's)" };
        var json = new Option<bool>("--json") { Description = "print one JSON object with exit code, output and kill reason" };
        var env = new Option<string[]>("--env", "-e") { Description = "NAME=value for this command (repeatable)" };
        var cwd = new Option<string?>("--cwd", "-w") { Description = "working directory inside the sandbox" };
        var cmd = new Command("exec", "Run a command in a running sandbox.") { id, cmdArgs, timeout, json, env, cwd };
        cmd.SetAction((p, ct) => Context.Guard(async (ctx, ct) =>
        {
            var sandbox = p.GetValue(id)!;
            var envs = TemplateOptions.ParseEnv(p.GetValue(env) ?? []);
            var spec = new ExecSpec(p.GetValue(cmdArgs)!, envs, p.GetValue(cwd), TemplateOptions.ParseTimeout(p.GetValue(timeout)));
            var stdin = Console.IsInputRedirected ? Console.OpenStandardInput() : null;
            if (p.GetValue(json))
            {
                var stdout = new MemoryStream();
                var stderr = new MemoryStream();
                var r = await ExecAsync(ctx, sandbox, spec, ExecIo.Capture(stdout, stderr, stdin), ct).ConfigureAwait(false);
                Output.WriteJson(sandbox, r, stdout, stderr);
                return r.ExitCode;
            }
            var result = await ExecAsync(ctx, sandbox, spec, Output.Console(stdin), ct).ConfigureAwait(false);
            Output.ReportKill(result);
            return result.ExitCode;
        }, ct));
        return cmd;
    }

    private static Command CpCmd()
    {
        var src = new Argument<string>("source") { Description = "host path, or ID:path inside the sandbox's workspace ('-' for stdin/stdout)" };
        var dst = new Argument<string>("destination") { Description = "ID:path, or host path" };
        var cmd = new Command("cp", "Copy a file into or out of a sandbox's workspace.") { src, dst };
        cmd.SetAction((p, ct) => Context.Guard(async (ctx, ct) =>
        {
            var (s, d) = (p.GetValue(src)!, p.GetValue(dst)!);
            if (SplitRef(s) is { } from && SplitRef(d) is null)
            {
                var files = Files(ctx, from.Id);
                if (d == "-")
                {
                    await using var stdout = Console.OpenStandardOutput();
                    await files.ReadAsync(from.Path, stdout, ct).ConfigureAwait(false);
                    return 0;
                }
                // Into a temp file renamed on success: a failed copy leaves an existing host file untouched.
                var tmp = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(d))!, $".{Path.GetFileName(d)}.airlock-{Environment.ProcessId}");
                try
                {
                    await using (var output = File.Create(tmp))
                    {
                        await files.ReadAsync(from.Path, output, ct).ConfigureAwait(false);
                    }
                    File.Move(tmp, d, overwrite: true);
                }
                finally
                {
                    File.Delete(tmp);
                }
                return 0;
            }
            if (SplitRef(d) is { } to && SplitRef(s) is null)
            {
                if (s != "-" && !File.Exists(s))
                {
                    throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, $"'{s}' is not a file on this machine", "give an existing file, or - for stdin");
                }
                await using var input = s == "-" ? Console.OpenStandardInput() : File.OpenRead(s);
                await Files(ctx, to.Id).WriteAsync(to.Path, input, 0x1A4, ct).ConfigureAwait(false);
                return 0;
            }
            throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, "exactly one of source and destination must be ID:path",
                "write e.g. airlock sandbox cp ./data.csv sbx-0123456789ab:data.csv");
        }, ct));
        return cmd;
    }

    private static Command LsCmd()
    {
        var target = new Argument<string?>("target") { Arity = ArgumentArity.ZeroOrOne, Description = "ID:path to list files; nothing to list sandboxes" };
        var json = new Option<bool>("--json") { Description = "print JSON" };
        var cmd = new Command("ls", "List sandboxes, or files in a sandbox's workspace.") { target, json };
        cmd.SetAction((p, ct) => Context.Guard(async (ctx, ct) =>
        {
            if (p.GetValue(target) is { } t)
            {
                var r = SplitRef(t.Contains(':') ? t : t + ":.") ?? throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, $"'{t}' is not ID:path", "write ID:path");
                var entries = await Files(ctx, r.Id).ListAsync(r.Path.Length == 0 ? "." : r.Path, ct).ConfigureAwait(false);
                foreach (var e in entries.OrderBy(e => e.Name, StringComparer.Ordinal))
                {
                    Console.Out.WriteLine($"{e.Type,-8} {e.Size,10}  {e.Name}");
                }
                return 0;
            }
            var rows = new List<SandboxJson>();
            if (ctx.Remote is { } remote)
            {
                foreach (var sb in await remote.ListSandboxesAsync(ct).ConfigureAwait(false))
                {
                    var ready = Conditions.Find(sb.Status.Conditions, Conditions.Ready);
                    rows.Add(new SandboxJson(sb.Name, sb.Spec.SandboxTemplateRef?.Name ?? "", sb.Status.WarmPool is { } pool ? "pool:" + pool : sb.Status.LaunchType,
                        ready is null ? "Unknown" : ready.Status == Conditions.True ? "Ready" : ready.Reason, sb.Status.CreatedAt));
                }
            }
            foreach (var rec in ctx.Remote is null ? ctx.Store.List().Where(r => !r.Ephemeral) : [])
            {
                var state = await ctx.BackendFor(rec.Template.Isolation.Class).StatusAsync(rec, ct).ConfigureAwait(false);
                rows.Add(new SandboxJson(rec.Id, rec.Template.Name, rec.Template.Isolation.Runtime, state.ToString(), rec.CreatedAt));
            }
            if (p.GetValue(json))
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(rows, CliJson.Default.ListSandboxJson));
                return 0;
            }
            var table = ctx.Remote is null ? new Table().AddColumns("ID", "TEMPLATE", "RUNTIME", "STATE", "CREATED") : new Table().AddColumns("NAME", "TEMPLATE", "SOURCE", "STATE", "CREATED");
            foreach (var r in rows)
            {
                table.AddRow(r.Id, r.Template, r.Runtime, r.State, r.CreatedAt.ToLocalTime().ToString("u"));
            }
            AnsiConsole.Write(table);
            return 0;
        }, ct));
        return cmd;
    }

    private static Command RmCmd()
    {
        var ids = new Argument<string[]>("id") { Arity = ArgumentArity.OneOrMore, Description = "sandbox ids" };
        var cmd = new Command("rm", "Destroy sandboxes: stop their processes and delete everything they had.") { ids };
        cmd.SetAction((p, ct) => Context.Guard(async (ctx, ct) =>
        {
            foreach (var id in p.GetValue(ids)!)
            {
                if (ctx.Remote is { } remote)
                {
                    await remote.DeleteSandboxAsync(id, ct).ConfigureAwait(false);
                }
                else
                {
                    var record = ctx.Store.Get(id);
                    await ctx.BackendFor(record.Template.Isolation.Class).DestroyAsync(record, ct).ConfigureAwait(false);
                }
                Console.Out.WriteLine(id);
            }
            return 0;
        }, ct));
        return cmd;
    }

    private static Command FreezeCmd(string name, string description, bool suspend)
    {
        var ids = new Argument<string[]>("id") { Arity = ArgumentArity.OneOrMore, Description = "sandbox ids" };
        var cmd = new Command(name, description) { ids };
        cmd.SetAction((p, ct) => Context.Guard(async (ctx, ct) =>
        {
            foreach (var id in p.GetValue(ids)!)
            {
                if (ctx.Remote is { } remote)
                {
                    await (suspend ? remote.SuspendAsync(id, ct) : remote.ResumeAsync(id, ct)).ConfigureAwait(false);
                }
                else
                {
                    var record = ctx.Store.Get(id);
                    var backend = ctx.BackendFor(record.Template.Isolation.Class);
                    await (suspend ? backend.SuspendAsync(record, ct) : backend.ResumeAsync(record, ct)).ConfigureAwait(false);
                }
                Console.Out.WriteLine(id);
            }
            return 0;
        }, ct));
        return cmd;
    }

    private static Command InspectCmd()
    {
        var id = new Argument<string>("id") { Description = "sandbox name" };
        var cmd = new Command("inspect", "Print a sandbox's spec and status (conditions, pool, claim) as JSON.") { id };
        cmd.SetAction((p, ct) => Context.Guard(async (ctx, ct) =>
        {
            if (ctx.Remote is { } remote)
            {
                var sb = await remote.GetSandboxAsync(p.GetValue(id)!, ct).ConfigureAwait(false);
                Console.Out.WriteLine(JsonSerializer.Serialize(sb, CliJson.Default.Sandbox));
                return 0;
            }
            var record = ctx.Store.Get(p.GetValue(id)!);
            Console.Out.WriteLine(JsonSerializer.Serialize(record, Core.CoreJson.Default.SandboxRecord));
            return 0;
        }, ct));
        return cmd;
    }

    private static Task<ExecResult> ExecAsync(Context ctx, string sandbox, ExecSpec spec, ExecIo io, CancellationToken ct)
    {
        if (ctx.Remote is { } remote)
        {
            return remote.ExecAsync(sandbox, spec, io, ct);
        }
        var record = ctx.Store.Get(sandbox);
        return ctx.BackendFor(record.Template.Isolation.Class).ExecAsync(record, spec, io, ct);
    }

    private static ISandboxFiles Files(Context ctx, string sandbox)
    {
        if (ctx.Remote is { } remote)
        {
            return remote.Files(sandbox);
        }
        var record = ctx.Store.Get(sandbox);
        return ctx.BackendFor(record.Template.Isolation.Class).Files(record);
    }

    /// <summary>NAME:path, where NAME is a sandbox name (a DNS label: no '/' or '.'), so ./a:b stays a host path.</summary>
    private static (string Id, string Path)? SplitRef(string s)
    {
        var colon = s.IndexOf(':');
        return colon > 0 && Core.Validation.TemplateValidator.IsValidName(s[..colon]) ? (s[..colon], s[(colon + 1)..]) : null;
    }
}
