using System.CommandLine;
using System.Text.Json;
using Airlock.Core;
using Airlock.Core.Backends;
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
        group.Subcommands.Add(FreezeCmd("suspend", "Freeze a sandbox: its processes stop, memory and files are kept.", suspend: true));
        group.Subcommands.Add(FreezeCmd("resume", "Thaw a suspended sandbox.", suspend: false));
        return group;
    }

    private static Command CreateCmd()
    {
        var opts = new TemplateOptions();
        var cmd = new Command("create", "Start a sandbox and print its id.");
        opts.AddTo(cmd);
        cmd.SetAction((p, ct) => Context.Guard(async (ctx, ct) =>
        {
            var template = opts.Resolve(p, ctx, "shell");
            var backend = ctx.BackendFor(template.Isolation.Class);
            SandboxRecord record;
            if (!Console.IsErrorRedirected)
            {
                record = await AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) })
                    .Status().StartAsync($"starting {template.Name} sandbox ({template.Isolation.Runtime})", _ => backend.CreateAsync(template, ct)).ConfigureAwait(false);
            }
            else
            {
                record = await backend.CreateAsync(template, ct).ConfigureAwait(false);
            }
            Console.Out.WriteLine(record.Id);
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
            var record = ctx.Store.Get(p.GetValue(id)!);
            var backend = ctx.BackendFor(record.Template.Isolation.Class);
            var envs = TemplateOptions.ParseEnv(p.GetValue(env) ?? []);
            var spec = new ExecSpec(p.GetValue(cmdArgs)!, envs, p.GetValue(cwd), TemplateOptions.ParseTimeout(p.GetValue(timeout)));
            var stdin = Console.IsInputRedirected ? Console.OpenStandardInput() : null;
            if (p.GetValue(json))
            {
                var stdout = new MemoryStream();
                var stderr = new MemoryStream();
                var r = await backend.ExecAsync(record, spec, ExecIo.Capture(stdout, stderr, stdin), ct).ConfigureAwait(false);
                Output.WriteJson(record.Id, r, stdout, stderr);
                return r.ExitCode;
            }
            var result = await backend.ExecAsync(record, spec, Output.Console(stdin), ct).ConfigureAwait(false);
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
                var record = ctx.Store.Get(from.Id);
                var files = ctx.BackendFor(record.Template.Isolation.Class).Files(record);
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
                var record = ctx.Store.Get(to.Id);
                if (s != "-" && !File.Exists(s))
                {
                    throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, $"'{s}' is not a file on this machine", "give an existing file, or - for stdin");
                }
                await using var input = s == "-" ? Console.OpenStandardInput() : File.OpenRead(s);
                await ctx.BackendFor(record.Template.Isolation.Class).Files(record).WriteAsync(to.Path, input, 0x1A4, ct).ConfigureAwait(false);
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
                var record = ctx.Store.Get(r.Id);
                var entries = await ctx.BackendFor(record.Template.Isolation.Class).Files(record).ListAsync(r.Path, ct).ConfigureAwait(false);
                foreach (var e in entries.OrderBy(e => e.Name, StringComparer.Ordinal))
                {
                    Console.Out.WriteLine($"{e.Type,-8} {e.Size,10}  {e.Name}");
                }
                return 0;
            }
            var rows = new List<SandboxJson>();
            foreach (var rec in ctx.Store.List().Where(r => !r.Ephemeral))
            {
                var state = await ctx.BackendFor(rec.Template.Isolation.Class).StatusAsync(rec, ct).ConfigureAwait(false);
                rows.Add(new SandboxJson(rec.Id, rec.Template.Name, rec.Template.Isolation.Runtime, state.ToString(), rec.CreatedAt));
            }
            if (p.GetValue(json))
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(rows, CliJson.Default.ListSandboxJson));
                return 0;
            }
            var table = new Table().AddColumns("ID", "TEMPLATE", "RUNTIME", "STATE", "CREATED");
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
                var record = ctx.Store.Get(id);
                await ctx.BackendFor(record.Template.Isolation.Class).DestroyAsync(record, ct).ConfigureAwait(false);
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
                var record = ctx.Store.Get(id);
                var backend = ctx.BackendFor(record.Template.Isolation.Class);
                await (suspend ? backend.SuspendAsync(record, ct) : backend.ResumeAsync(record, ct)).ConfigureAwait(false);
                Console.Out.WriteLine(id);
            }
            return 0;
        }, ct));
        return cmd;
    }

    private static (string Id, string Path)? SplitRef(string s)
    {
        var colon = s.IndexOf(':');
        return colon > 0 && s[..colon].StartsWith("sbx-", StringComparison.Ordinal) ? (s[..colon], s[(colon + 1)..]) : null;
    }
}
