using System.Buffers;
using System.Text.Json;
using Airlock.Screening.Rules;

namespace Airlock.Screening;

/// <summary>
/// Screens what reaches an agent: tool results (hidden content only) and tool definitions (hidden content, plus
/// instruction-like content and the length cap for descriptions). Thread-safe and cheap to share; build one per
/// policy.
/// <code>
/// var screener = new Screener(new ScreeningSpec { AllowedLinkHosts = ["github.com"] });
/// var r = screener.ScreenResult(toolOutput);
/// if (r.Blocked) { /* withhold, audit r.Findings */ } else { Deliver(r.Text); }
/// </code>
/// </summary>
public sealed class Screener
{
    private readonly Dictionary<string, ScreeningAction> actions;
    private readonly HostAllowList hosts;

    /// <summary>Throws <see cref="ScreeningSpecException"/> naming every bad field of <paramref name="spec"/>.</summary>
    public Screener(ScreeningSpec? spec = null)
    {
        Spec = spec ?? new ScreeningSpec();
        ScreeningValidator.ThrowIfInvalid(Spec);
        actions = new(FindingCodes.DefaultActions);
        foreach (var (code, action) in Spec.Actions)
        {
            ScreeningValidator.TryParseAction(action, out var a);
            actions[code] = a;
        }
        hosts = new HostAllowList(Spec.AllowedLinkHosts);
    }

    public ScreeningSpec Spec { get; }

    /// <summary>The action the policy takes for <paramref name="code"/>.</summary>
    public ScreeningAction ActionFor(string code) => actions.TryGetValue(code, out var a) ? a : ScreeningAction.Warn;

    /// <summary>Screens a tool result: invisible Unicode, terminal escapes, HTML/markdown comments, hidden HTML and
    /// exfiltrating images and links. Instruction-like content is not judged here: results legitimately quote web
    /// pages and files that contain it, and the agent's own policy decides what to do with data.</summary>
    public ScreeningResult ScreenResult(string text) => Screen(text, "", Scope.Result, null);

    /// <summary>Screens a tool description: everything <see cref="ScreenResult"/> does, instruction-like content,
    /// references to other servers' tools (given <paramref name="context"/>) and the length cap.</summary>
    public ScreeningResult ScreenDescription(string text, ToolContext? context = null) =>
        Screen(text, "description", Scope.Description, context);

    /// <summary>Screens every string of a tool definition. A finding in any field blocks the whole tool when its
    /// action is <c>block</c>.</summary>
    public ToolScreeningResult ScreenTool(ToolDescriptor tool, IReadOnlyCollection<ToolIdentity>? knownTools = null)
    {
        var context = new ToolContext(tool.Server, tool.Name, knownTools ?? []);
        var findings = new List<Finding>();
        string ScreenField(string text, string field, Scope scope)
        {
            var r = Screen(text, field, scope, context);
            findings.AddRange(r.Findings);
            return r.Text;
        }
        var name = ScreenField(tool.Name, "name", Scope.Field);
        var title = tool.Title is null ? null : ScreenField(tool.Title, "title", Scope.Field);
        var description = tool.Description is null ? null : ScreenField(tool.Description, "description", Scope.Description);
        var schema = tool.InputSchema is { } s ? ScreenJson(s, "inputSchema", ScreenField) : (JsonElement?)null;
        var annotations = tool.Annotations is { } a ? ScreenJson(a, "annotations", ScreenField) : (JsonElement?)null;
        var sanitized = tool with { Name = name, Title = title, Description = description, InputSchema = schema, Annotations = annotations };
        return new(sanitized, findings, findings.Any(f => f.Action == ScreeningAction.Block));
    }

    private enum Scope
    {
        Result,      // hidden content only
        Field,       // a string of a tool definition: hidden content and instruction-like content
        Description, // a field, plus the length cap
    }

    private ScreeningResult Screen(string text, string field, Scope scope, ToolContext? context)
    {
        // 1. Characters and escapes nobody sees, on the text as received.
        var raw = new List<Hit>();
        AnsiEscapes.Find(text, raw);
        InvisibleUnicode.Find(text, raw);
        var hits = raw.Select(h => (Hit: h, h.Start, h.Length)).ToList();

        // 2. Markup and content rules, on the text without them, mapped back.
        var view = new TextView(text).Without(raw);
        var structural = new List<Hit>();
        // Cheap guards: most results have no markup at all.
        var hasTag = view.Text.Contains('<');
        var hasLink = hasTag || view.Text.Contains("](", StringComparison.Ordinal) || view.Text.Contains("]:", StringComparison.Ordinal);
        if (hasTag || view.Text.Contains("]:", StringComparison.Ordinal))
        {
            HiddenHtml.FindComments(view.Text, structural);
        }
        if (hasTag)
        {
            HiddenHtml.FindHiddenElements(view.Text, structural);
        }
        if (hasLink)
        {
            ExfilLinks.Find(view.Text, hosts, structural);
        }
        if (scope != Scope.Result)
        {
            InstructionRules.Find(view.Text, structural);
            if (context is not null)
            {
                CrossToolReferences.Find(view.Text, context, structural);
            }
        }
        foreach (var h in structural)
        {
            var (start, length) = view.ToOriginal(h.Start, h.Length);
            hits.Add((h with { Excerpt = TextEdits.Excerpt(view.Text, h.Start, h.Length) }, start, length));
        }

        var findings = hits
            .OrderBy(h => FindingCodesOrder(h.Hit.Code)).ThenBy(h => h.Start)
            .Select(h => new Finding(h.Hit.Code, h.Hit.Severity, ActionFor(h.Hit.Code), field, h.Start, h.Length,
                h.Hit.Excerpt ?? TextEdits.Excerpt(text, h.Start, h.Length), h.Hit.Message))
            .ToList();
        var sanitized = TextEdits.Apply(text, hits
            .Where(h => ActionFor(h.Hit.Code) != ScreeningAction.Warn)
            .Select(h => (h.Start, h.Length, h.Hit.Replacement)));

        // 3. The cap, on what would be delivered.
        if (scope == Scope.Description && sanitized.Length > Spec.MaxDescriptionLength)
        {
            var action = ActionFor(FindingCodes.DescriptionTooLong);
            var max = Spec.MaxDescriptionLength;
            findings.Add(new(FindingCodes.DescriptionTooLong, Severity.Low, action, field, max, sanitized.Length - max,
                TextEdits.Excerpt(sanitized, max, Math.Min(40, sanitized.Length - max)),
                $"{sanitized.Length} characters, more than the limit of {max}"));
            if (action != ScreeningAction.Warn)
            {
                var cut = char.IsHighSurrogate(sanitized[max - 1]) ? max - 1 : max;
                sanitized = sanitized[..cut] + "…";
            }
        }
        return new(sanitized, findings, findings.Any(f => f.Action == ScreeningAction.Block));
    }

    private static int FindingCodesOrder(string code)
    {
        for (var i = 0; i < FindingCodes.All.Count; i++)
        {
            if (FindingCodes.All[i] == code)
            {
                return i;
            }
        }
        return int.MaxValue;
    }

    /// <summary>Rewrites a JSON value with every string (and property name) screened; the field path of a string is
    /// its JSON path (<c>inputSchema.properties.path.description</c>, <c>inputSchema.enum[2]</c>).</summary>
    private static JsonElement ScreenJson(JsonElement element, string path, Func<string, string, Scope, string> screen)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            Write(element, path);

            void Write(JsonElement e, string at)
            {
                switch (e.ValueKind)
                {
                    case JsonValueKind.Object:
                        writer.WriteStartObject();
                        foreach (var p in e.EnumerateObject())
                        {
                            writer.WritePropertyName(screen(p.Name, $"{at}.{p.Name}", Scope.Field));
                            Write(p.Value, $"{at}.{p.Name}");
                        }
                        writer.WriteEndObject();
                        break;
                    case JsonValueKind.Array:
                        writer.WriteStartArray();
                        var i = 0;
                        foreach (var item in e.EnumerateArray())
                        {
                            Write(item, $"{at}[{i++}]");
                        }
                        writer.WriteEndArray();
                        break;
                    case JsonValueKind.String:
                        writer.WriteStringValue(screen(e.GetString()!, at, Scope.Field));
                        break;
                    default:
                        e.WriteTo(writer);
                        break;
                }
            }
        }
        using var doc = JsonDocument.Parse(buffer.WrittenMemory);
        return doc.RootElement.Clone();
    }
}
