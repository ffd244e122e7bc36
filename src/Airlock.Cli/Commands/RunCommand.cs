using System.CommandLine;
using System.Text;
using System.Text.Json;
using Airlock.Core;
using Airlock.Core.Backends;
using Airlock.Core.Model;
using Airlock.Guest.Protocol;

namespace Airlock.Cli.Commands;

/// <summary><c>airlock run</c>: one command in a fresh ephemeral sandbox; exits with its exit code.</summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var opts = new TemplateOptions();
        var json = new Option<bool>("--json") { Description = "print one JSON object with exit code, output and kill reason" };
        var python = new Option<string?>("--python") { Description = "Python code to run (uses the python template)" };
        var pythonFile = new Option<string?>("--python-file") { Description = "host file with Python code to run" };
        var isolationClass = new Option<string?>("--class") { Description = "isolation class: oci (default), wasm (argv: FILE.wasm ARGS), v8 (--js CODE or --python CODE)" };
        var js = new Option<string?>("--js") { Description = "JavaScript code to run in a V8 isolate (the v8 class)" };
        var cmdArgs = new Argument<string[]>("command") { Arity = ArgumentArity.ZeroOrMore, Description = "command and arguments, after --" };
        var cmd = new Command("run", "Run a command in a fresh ephemeral sandbox and tear it down.");
        opts.AddTo(cmd);
        cmd.Options.Add(json);
        cmd.Options.Add(python);
        cmd.Options.Add(pythonFile);
        cmd.Options.Add(isolationClass);
        cmd.Options.Add(js);
        cmd.Arguments.Add(cmdArgs);
        cmd.SetAction((p, ct) => Context.Guard(async (ctx, ct) =>
        {
            var code = p.GetValue(python);
            if (p.GetValue(pythonFile) is { } file)
            {
                code = File.Exists(file) ? await File.ReadAllTextAsync(file, ct).ConfigureAwait(false)
                    : throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, $"--python-file '{file}' does not exist", "give the path of a Python file on this machine");
            }
            var jsCode = p.GetValue(js);
            var cls = p.GetValue(isolationClass) ?? (jsCode is not null ? IsolationClasses.V8 : null);
            var defaultTemplate = cls switch
            {
                IsolationClasses.Wasm => "wasm",
                IsolationClasses.V8 => "v8",
                _ => code is null ? "shell" : "python",
            };
            var template = await opts.ResolveAsync(p, ctx, defaultTemplate, ct,
                cls is null ? null : t => t.Isolation.Class == cls ? t : t with { Isolation = t.Isolation with { Class = cls } }).ConfigureAwait(false);
            var argv = p.GetValue(cmdArgs) ?? [];
            if (template.Isolation.Class == IsolationClasses.Wasm && argv.Length > 0 && ctx.Remote is null && File.Exists(argv[0]))
            {
                // A module named by a host path (the user's own file): the wasm class reads it from the host.
                argv = [Path.GetFullPath(argv[0]), .. argv[1..]];
            }
            if (jsCode is not null && code is not null)
            {
                throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, "--js and --python were both given", "give one of them");
            }
            if ((jsCode ?? code) is not null && argv.Length > 0)
            {
                throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, "--python (or --js) and a command were both given", "give either --python/--js CODE or -- COMMAND");
            }
            if (template.Isolation.Class == IsolationClasses.V8 && (jsCode ?? code) is { } v8Code)
            {
                // The v8 class's argv: the language, then the code.
                argv = [jsCode is not null ? "js" : "python", v8Code];
            }
            else if (jsCode is not null)
            {
                throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, "--js runs only in the v8 class", "drop --class, or use --class v8");
            }
            else if (code is not null)
            {
                argv = [.. template.Command ?? ["python3"], "-c", code];
            }
            else if (argv.Length == 0)
            {
                throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, "no command given", "write: airlock run -- COMMAND ARGS, or airlock run --python CODE");
            }
            var stdin = Console.IsInputRedirected ? Console.OpenStandardInput() : null;
            var spec = new ExecSpec(argv);
            Func<ExecIo, Task<RunResult>> run = ctx.Remote is { } remote
                ? io => remote.RunAsync(template, spec, io, ct)
                : io => ctx.BackendFor(template.Isolation.Class).RunAsync(template, spec, io, ct);
            if (p.GetValue(json))
            {
                var stdout = new MemoryStream();
                var stderr = new MemoryStream();
                var r = await run(ExecIo.Capture(stdout, stderr, stdin)).ConfigureAwait(false);
                Output.WriteJson(r.SandboxId, r.Result, stdout, stderr);
                return r.Result.ExitCode;
            }
            var result = await run(Output.Console(stdin)).ConfigureAwait(false);
            Output.ReportKill(result.Result);
            return result.Result.ExitCode;
        }, ct));
        return cmd;
    }
}

/// <summary>How exec results reach the terminal.</summary>
internal static class Output
{
    public static ExecIo Console(Stream? stdin)
    {
        var stdout = System.Console.OpenStandardOutput();
        var stderr = System.Console.OpenStandardError();
        return new ExecIo(stdin,
            async (b, ct) => { await stdout.WriteAsync(b, ct).ConfigureAwait(false); await stdout.FlushAsync(ct).ConfigureAwait(false); },
            async (b, ct) => { await stderr.WriteAsync(b, ct).ConfigureAwait(false); await stderr.FlushAsync(ct).ConfigureAwait(false); });
    }

    public static void ReportKill(ExecResult r)
    {
        if (r.KilledReason is { } reason)
        {
            System.Console.Error.WriteLine($"airlock: command killed: {reason}{(r.Truncated ? " (output truncated)" : "")}");
        }
    }

    public static void WriteJson(string sandboxId, ExecResult r, MemoryStream stdout, MemoryStream stderr)
    {
        var o = new RunJson(r.ExitCode, r.Signal, r.KilledReason, Encoding.UTF8.GetString(stdout.ToArray()),
            Encoding.UTF8.GetString(stderr.ToArray()), r.DurationMs, sandboxId, r.Truncated);
        System.Console.Out.WriteLine(JsonSerializer.Serialize(o, CliJson.Default.RunJson));
    }
}
