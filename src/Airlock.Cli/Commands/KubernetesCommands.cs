using System.CommandLine;
using System.Text.Json.Nodes;
using Airlock.Core;
using Airlock.Core.Templates;
using Airlock.Core.Util;
using Airlock.Core.Validation;
using Airlock.Kubernetes;

namespace Airlock.Cli.Commands;

/// <summary><c>airlock export|import</c>: templates as kubernetes-sigs/agent-sandbox v1beta1 SandboxTemplate manifests.</summary>
internal static class KubernetesCommands
{
    public static Command Export()
    {
        var template = new Argument<string>("template") { Description = "built-in template name or a template file" };
        var output = new Option<string?>("--output", "-o") { Description = "write to this file instead of stdout" };
        var cmd = new Command("export", "Write a template as an agent-sandbox v1beta1 SandboxTemplate (YAML).") { template, output };
        cmd.SetAction((p, ct) => Context.Guard((ctx, _) =>
        {
            var t = TemplateLoader.Load(p.GetValue(template)!);
            TemplateValidator.EnsureValid(t);
            Write(AgentSandboxTemplates.ExportYaml(t), p.GetValue(output));
            return Task.FromResult(0);
        }, ct, reap: false));
        return cmd;
    }

    public static Command Import()
    {
        var file = new Argument<string>("manifest") { Description = "a SandboxTemplate manifest (YAML or JSON)" };
        var output = new Option<string?>("--output", "-o") { Description = "write the Airlock template to this file instead of stdout" };
        var cmd = new Command("import", "Read an agent-sandbox SandboxTemplate back into an Airlock template (YAML).") { file, output };
        cmd.SetAction((p, ct) => Context.Guard(async (ctx, ct) =>
        {
            var path = p.GetValue(file)!;
            if (!File.Exists(path))
            {
                throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, $"'{path}' does not exist", "give the path of a SandboxTemplate manifest");
            }
            var t = AgentSandboxTemplates.Import(await File.ReadAllTextAsync(path, ct).ConfigureAwait(false), path);
            TemplateValidator.EnsureValid(t, ctx.Backends);
            Write(YamlJson.Write(JsonNode.Parse(TemplateLoader.ToJson(t))!), p.GetValue(output));
            return 0;
        }, ct, reap: false));
        return cmd;
    }

    private static void Write(string text, string? path)
    {
        if (path is null)
        {
            Console.Out.Write(text);
        }
        else
        {
            File.WriteAllText(path, text);
        }
    }
}
