using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Airlock.Core;
using Airlock.Core.Control;
using Airlock.Core.Model;
using Airlock.Core.Templates;
using Airlock.Core.Util;
using Airlock.Core.Validation;
using Airlock.Kubernetes;

namespace Airlock.Cli.Commands;

/// <summary><c>airlock export|import</c>: templates, warm pools and claims as kubernetes-sigs/agent-sandbox v1beta1
/// manifests. Templates come from built-ins, files or the daemon; pools and claims from the daemon.</summary>
internal static class KubernetesCommands
{
    private static readonly string[] Kinds = ["template", "pool", "claim"];

    public static Command Export()
    {
        var args = new Argument<string[]>("what") { Arity = new ArgumentArity(1, 2), Description = "[template|pool|claim] NAME (a template may also be a file)" };
        var output = new Option<string?>("--output", "-o") { Description = "write to this file instead of stdout" };
        var cmd = new Command("export", "Write a template, warm pool or claim as agent-sandbox v1beta1 YAML (pools and claims: from the daemon).") { args, output };
        cmd.SetAction((p, ct) => Context.Guard(async (ctx, ct) =>
        {
            var a = p.GetValue(args)!;
            var (kind, name) = a.Length == 2 ? (a[0], a[1]) : ("template", a[0]);
            if (!Kinds.Contains(kind))
            {
                throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, $"'{kind}' is not something to export", "write: airlock export [template|pool|claim] NAME");
            }
            string yaml;
            switch (kind)
            {
                case "pool":
                    yaml = AgentSandboxResources.ExportPoolYaml(await ctx.RequireRemote("export pool").GetPoolAsync(name, ct).ConfigureAwait(false));
                    break;
                case "claim":
                    yaml = AgentSandboxResources.ExportClaimYaml(await ctx.RequireRemote("export claim").GetClaimAsync(name, ct).ConfigureAwait(false));
                    break;
                default:
                    var t = ctx.Remote is { } r && !File.Exists(name) && TemplateValidator.IsValidName(name)
                        ? await r.GetTemplateAsync(name, ct).ConfigureAwait(false)
                        : TemplateLoader.Load(name);
                    TemplateValidator.EnsureValid(t);
                    yaml = AgentSandboxTemplates.ExportYaml(t);
                    break;
            }
            Write(yaml, p.GetValue(output));
            return 0;
        }, ct, reap: false));
        return cmd;
    }

    public static Command Import()
    {
        var file = new Argument<string>("manifest") { Description = "an agent-sandbox SandboxTemplate, SandboxWarmPool or SandboxClaim (YAML or JSON)" };
        var output = new Option<string?>("--output", "-o") { Description = "write the Airlock form to this file instead of stdout" };
        var apply = new Option<bool>("--apply") { Description = "send it to the daemon (AIRLOCK_HOST) instead of printing it" };
        var cmd = new Command("import", "Read an agent-sandbox v1beta1 manifest back into Airlock's form (or apply it to the daemon).") { file, output, apply };
        cmd.SetAction((p, ct) => Context.Guard(async (ctx, ct) =>
        {
            var path = p.GetValue(file)!;
            if (!File.Exists(path))
            {
                throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, $"'{path}' does not exist", "give the path of an agent-sandbox manifest");
            }
            var text = await File.ReadAllTextAsync(path, ct).ConfigureAwait(false);
            JsonNode native;
            string printed;
            switch (AgentSandboxResources.KindOf(text, path))
            {
                case AgentSandboxResources.PoolKind:
                    var pool = AgentSandboxResources.ImportPool(text, path);
                    if (p.GetValue(apply))
                    {
                        printed = (await ctx.RequireRemote("import --apply").ApplyPoolAsync(pool.Name, pool.Spec, ct).ConfigureAwait(false)).Name + "\n";
                        break;
                    }
                    native = JsonSerializer.SerializeToNode(pool, ControlJson.Default.SandboxWarmPool)!;
                    printed = YamlJson.Write(WithoutStatus(native));
                    break;
                case AgentSandboxResources.ClaimKind:
                    var claim = AgentSandboxResources.ImportClaim(text, path);
                    if (p.GetValue(apply))
                    {
                        var created = await ctx.RequireRemote("import --apply").CreateClaimAsync(new CreateClaimRequest(claim.Name, claim.Spec), ct).ConfigureAwait(false);
                        printed = (created.Status.Sandbox?.Name ?? created.Name) + "\n";
                        break;
                    }
                    native = JsonSerializer.SerializeToNode(claim, ControlJson.Default.SandboxClaim)!;
                    printed = YamlJson.Write(WithoutStatus(native));
                    break;
                default:
                    var t = AgentSandboxTemplates.Import(text, path);
                    if (p.GetValue(apply))
                    {
                        printed = (await ctx.RequireRemote("import --apply").ApplyTemplateAsync(t, ct).ConfigureAwait(false)).Name + "\n";
                        break;
                    }
                    TemplateValidator.EnsureValid(t, ctx.ValidationBackends);
                    printed = YamlJson.Write(JsonNode.Parse(TemplateLoader.ToJson(t))!);
                    break;
            }
            Write(printed, p.GetValue(output));
            return 0;
        }, ct, reap: false));
        return cmd;
    }

    private static JsonNode WithoutStatus(JsonNode n)
    {
        n.AsObject().Remove("status");
        return n;
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
