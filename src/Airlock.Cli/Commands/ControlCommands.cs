using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Airlock.Core;
using Airlock.Core.Control;
using Airlock.Core.Templates;
using Airlock.Core.Util;
using Spectre.Console;

namespace Airlock.Cli.Commands;

/// <summary><c>airlock pool|claim …</c> and <c>template apply|rm</c>: resources of a daemon (<c>AIRLOCK_HOST</c>).</summary>
internal static class ControlCommands
{
    public static Command Pool()
    {
        var group = new Command("pool", "Manage warm pools on the daemon: sandboxes started ahead so a claim takes milliseconds.");
        var name = new Argument<string>("name") { Description = "pool name" };
        var template = new Option<string>("--template", "-t") { Description = "template name (built-in or applied)", Required = true };
        var replicas = new Option<int>("--replicas", "-r") { Description = "sandboxes to keep ready", DefaultValueFactory = _ => 1 };
        var strategy = new Option<string>("--update-strategy") { Description = "OnReplenish (default) or Recreate", DefaultValueFactory = _ => UpdateStrategies.OnReplenish };
        var apply = new Command("apply", "Create or update a warm pool.") { name, template, replicas, strategy };
        apply.SetAction((p, ct) => Context.Guard(async (ctx, ct) =>
        {
            var pool = await ctx.RequireRemote("pool apply").ApplyPoolAsync(p.GetValue(name)!, new SandboxWarmPoolSpec
            {
                Replicas = p.GetValue(replicas),
                SandboxTemplateRef = new NameRef(p.GetValue(template)!),
                UpdateStrategy = new UpdateStrategy(p.GetValue(strategy)!),
            }, ct).ConfigureAwait(false);
            Console.Out.WriteLine(pool.Name);
            return 0;
        }, ct, reap: false));
        var ls = new Command("ls", "List warm pools with their ready counts.");
        ls.SetAction((p, ct) => Context.Guard(async (ctx, ct) =>
        {
            var table = new Table().AddColumns("NAME", "TEMPLATE", "REPLICAS", "READY", "STRATEGY");
            foreach (var pool in await ctx.RequireRemote("pool ls").ListPoolsAsync(ct).ConfigureAwait(false))
            {
                table.AddRow(pool.Name, pool.Spec.SandboxTemplateRef?.Name ?? "", pool.Spec.Replicas.ToString(CultureInfo.InvariantCulture),
                    pool.Status.ReadyReplicas.ToString(CultureInfo.InvariantCulture), pool.Spec.UpdateStrategy.Type);
            }
            AnsiConsole.Write(table);
            return 0;
        }, ct, reap: false));
        var rmName = new Argument<string>("name") { Description = "pool name" };
        var rm = new Command("rm", "Delete a warm pool and its unclaimed sandboxes.") { rmName };
        rm.SetAction((p, ct) => Context.Guard(async (ctx, ct) =>
        {
            await ctx.RequireRemote("pool rm").DeletePoolAsync(p.GetValue(rmName)!, ct).ConfigureAwait(false);
            return 0;
        }, ct, reap: false));
        group.Subcommands.Add(apply);
        group.Subcommands.Add(ls);
        group.Subcommands.Add(rm);
        return group;
    }

    public static Command Claim()
    {
        var group = new Command("claim", "Claim sandboxes from warm pools (or templates) on the daemon.");
        var name = new Argument<string?>("name") { Arity = ArgumentArity.ZeroOrOne, Description = "claim name (default: generated); the sandbox gets the same name" };
        var pool = new Option<string?>("--pool", "-p") { Description = "warm pool to claim from" };
        var template = new Option<string?>("--template", "-t") { Description = "template to start a sandbox from (no pool)" };
        var shutdown = new Option<string?>("--shutdown-after") { Description = "expire the sandbox after this long, e.g. 10m" };
        var policy = new Option<string?>("--shutdown-policy") { Description = "on expiry: Retain (default) keeps the claim, Delete removes it" };
        var ttl = new Option<int?>("--ttl-after-finished") { Description = "delete the claim this many seconds after its sandbox finished" };
        var env = new Option<string[]>("--env", "-e") { Description = "NAME=value for the sandbox's commands, if the template's envVarsInjectionPolicy allows" };
        var json = new Option<bool>("--json") { Description = "print the claim as JSON instead of the sandbox name" };
        var create = new Command("create", "Claim a sandbox and print its name.") { name, pool, template, shutdown, policy, ttl, env, json };
        create.SetAction((p, ct) => Context.Guard(async (ctx, ct) =>
        {
            DateTimeOffset? at = null;
            if (p.GetValue(shutdown) is { } s)
            {
                at = Quantity.TryParseDuration(s, out var d) ? DateTimeOffset.UtcNow + d
                    : throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, $"--shutdown-after '{s}' is not a duration", "write e.g. --shutdown-after 10m");
            }
            var claim = await ctx.RequireRemote("claim create").CreateClaimAsync(new CreateClaimRequest(p.GetValue(name), new SandboxClaimSpec
            {
                WarmPoolRef = p.GetValue(pool) is { } pl ? new NameRef(pl) : null,
                SandboxTemplateRef = p.GetValue(template) is { } t ? new NameRef(t) : null,
                Lifecycle = new ClaimLifecycle { ShutdownTime = at, ShutdownPolicy = p.GetValue(policy) ?? ShutdownPolicies.Retain, TtlSecondsAfterFinished = p.GetValue(ttl) },
                Env = TemplateOptions.ParseEnv(p.GetValue(env) ?? []).Select(kv => new EnvVar(kv.Key, kv.Value)).ToList(),
            }), ct).ConfigureAwait(false);
            Console.Out.WriteLine(p.GetValue(json) ? JsonSerializer.Serialize(claim, CliJson.Default.SandboxClaim) : claim.Status.Sandbox?.Name ?? claim.Name);
            return 0;
        }, ct, reap: false));
        var ls = new Command("ls", "List claims.");
        ls.SetAction((p, ct) => Context.Guard(async (ctx, ct) =>
        {
            var table = new Table().AddColumns("NAME", "SOURCE", "SANDBOX", "READY", "REASON", "CLAIM MS");
            foreach (var c in await ctx.RequireRemote("claim ls").ListClaimsAsync(ct).ConfigureAwait(false))
            {
                var ready = Conditions.Find(c.Status.Conditions, Conditions.Ready);
                table.AddRow(c.Name, c.Spec.WarmPoolRef is { } wp ? "pool:" + wp.Name : "template:" + c.Spec.SandboxTemplateRef?.Name,
                    c.Status.Sandbox?.Name ?? "", ready?.Status ?? "", ready?.Reason ?? "", c.Status.ClaimMs.ToString("0.0", CultureInfo.InvariantCulture));
            }
            AnsiConsole.Write(table);
            return 0;
        }, ct, reap: false));
        var rmName = new Argument<string[]>("name") { Arity = ArgumentArity.OneOrMore, Description = "claim names" };
        var rm = new Command("rm", "Delete claims and their sandboxes.") { rmName };
        rm.SetAction((p, ct) => Context.Guard(async (ctx, ct) =>
        {
            foreach (var n in p.GetValue(rmName)!)
            {
                await ctx.RequireRemote("claim rm").DeleteClaimAsync(n, ct).ConfigureAwait(false);
                Console.Out.WriteLine(n);
            }
            return 0;
        }, ct, reap: false));
        group.Subcommands.Add(create);
        group.Subcommands.Add(ls);
        group.Subcommands.Add(rm);
        return group;
    }

    public static Command TemplateApply()
    {
        var file = new Argument<string>("file") { Description = "template file (YAML or JSON)" };
        var cmd = new Command("apply", "Store a template on the daemon (validated there).") { file };
        cmd.SetAction((p, ct) => Context.Guard(async (ctx, ct) =>
        {
            var t = TemplateLoader.Load(p.GetValue(file)!);
            var applied = await ctx.RequireRemote("template apply").ApplyTemplateAsync(t, ct).ConfigureAwait(false);
            Console.Out.WriteLine(applied.Name);
            return 0;
        }, ct, reap: false));
        return cmd;
    }

    public static Command TemplateRm()
    {
        var name = new Argument<string>("name") { Description = "template name" };
        var cmd = new Command("rm", "Delete a template from the daemon.") { name };
        cmd.SetAction((p, ct) => Context.Guard(async (ctx, ct) =>
        {
            await ctx.RequireRemote("template rm").DeleteTemplateAsync(p.GetValue(name)!, ct).ConfigureAwait(false);
            return 0;
        }, ct, reap: false));
        return cmd;
    }
}

/// <summary><c>airlock serve|token|audit|mcp</c> are served by the daemon program <c>airlock-server</c> (which owns the
/// store and carries ASP.NET Core and SQLite, so this CLI stays small and quick to start): exec'd in place.</summary>
internal static partial class ServerCommands
{
    public static readonly string[] Verbs = ["serve", "token", "audit", "mcp"];

    public static IEnumerable<Command> HelpStubs() =>
    [
        new Command("serve", "Run the control-plane daemon: airlock serve --data-dir DIR [--listen unix:PATH] [--listen http://127.0.0.1:PORT]"),
        new Command("token", "Create and revoke API tokens: airlock token create --data-dir DIR --tenant T [--scope S] [--ttl 1h]"),
        new Command("audit", "Read and verify the audit log: airlock audit tail|export|verify --data-dir DIR"),
        new Command("mcp", "Serve sandbox tools to an MCP client on stdio (airlock mcp --allow-template python); "
            + "airlock mcp gateway|approve|scan CONFIG front third-party MCP servers run in sandboxes (airlock-server mcp SUBCOMMAND --help)"),
    ];

    public static string? FindServer()
    {
        var candidates = new[]
        {
            Environment.GetEnvironmentVariable("AIRLOCK_SERVER"),
            Path.Combine(AppContext.BaseDirectory, "airlock-server"),
            Path.Combine(AppContext.BaseDirectory, "..", "server", "airlock-server"),
        };
        return candidates.FirstOrDefault(c => !string.IsNullOrEmpty(c) && File.Exists(c)) is { } found ? Path.GetFullPath(found) : null;
    }

    public static int Exec(string[] args)
    {
        if (FindServer() is not { } server)
        {
            Console.Error.WriteLine("airlock: error: the daemon program airlock-server was not found next to airlock or in AIRLOCK_SERVER");
            Console.Error.WriteLine("  remedy: build it with ./build.sh");
            return ExitCodes.Internal;
        }
        string?[] argv = [server, .. args, null];
        _ = Execv(server, argv);
        Console.Error.WriteLine($"airlock: error: cannot start {server}: {Marshal.GetLastPInvokeErrorMessage()}");
        Console.Error.WriteLine("  remedy: check that it is executable (./build.sh)");
        return ExitCodes.Internal;
    }

    [LibraryImport("libc", EntryPoint = "execv", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Execv(string path, string?[] argv);
}
