using System.CommandLine;
using Airlock.Core.Templates;
using Airlock.Core.Validation;
using Spectre.Console;

namespace Airlock.Cli.Commands;

/// <summary><c>airlock template ls|show|validate</c>.</summary>
internal static class TemplateCommands
{
    public static Command Create()
    {
        var group = new Command("template", "Inspect and validate sandbox templates.");
        var ls = new Command("ls", "List templates: built-in ones, or with a daemon, the daemon's.");
        ls.SetAction((p, ct) => Context.Guard(async (ctx, ct) =>
        {
            var table = new Table().AddColumns("NAME", "CLASS", "RUNTIME", "DESCRIPTION");
            var all = ctx.Remote is { } remote ? await remote.ListTemplatesAsync(ct).ConfigureAwait(false) : BuiltinTemplates.All;
            foreach (var t in all)
            {
                table.AddRow(t.Name, t.Isolation.Class, t.Isolation.Runtime, Markup.Escape(t.Description ?? ""));
            }
            AnsiConsole.Write(table);
            return 0;
        }, ct, reap: false));
        var name = new Argument<string>("template") { Description = "built-in name or file" };
        var show = new Command("show", "Print a template as JSON, with every default filled in.") { name };
        show.SetAction((p, ct) => Context.Guard((_, _) =>
        {
            Console.Out.WriteLine(TemplateLoader.ToJson(TemplateLoader.Load(p.GetValue(name)!)));
            return Task.FromResult(0);
        }, ct, reap: false));
        var file = new Argument<string>("template") { Description = "built-in name or file" };
        var validate = new Command("validate", "Check a template; prints every error with its field.") { file };
        validate.SetAction((p, ct) => Context.Guard((ctx, _) =>
        {
            var t = TemplateLoader.Load(p.GetValue(file)!);
            TemplateValidator.EnsureValid(t, ctx.Backends);
            Console.Out.WriteLine($"template '{t.Name}' is valid");
            return Task.FromResult(0);
        }, ct, reap: false));
        group.Subcommands.Add(ls);
        group.Subcommands.Add(show);
        group.Subcommands.Add(validate);
        group.Subcommands.Add(ControlCommands.TemplateApply());
        group.Subcommands.Add(ControlCommands.TemplateRm());
        return group;
    }
}
