using System.Text.Json;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Airlock.Mcp.Tests;

/// <summary>Calls through the C# SDK client and checks what came back.</summary>
public static class McpAssert
{
    public static readonly string[] SevenTools = ["create_sandbox", "destroy_sandbox", "exec", "list_files", "read_file", "run_code", "write_file"];

    /// <summary>Calls a tool that must succeed; returns its structured content, after checking that the text
    /// content carries the same JSON.</summary>
    public static async Task<JsonElement> OkAsync(McpClient client, string tool, Dictionary<string, object?> args)
    {
        var r = await client.CallToolAsync(tool, args);
        var text = Text(r);
        Assert.True(r.IsError is not true, $"{tool} failed: {text}");
        Assert.True(r.StructuredContent is { ValueKind: JsonValueKind.Object }, $"{tool} returned no structured content: {text}");
        Assert.True(System.Text.Json.Nodes.JsonNode.DeepEquals(System.Text.Json.Nodes.JsonNode.Parse(text), System.Text.Json.Nodes.JsonNode.Parse(r.StructuredContent!.Value.GetRawText())),
            $"{tool}: text content {text} is not the structured content {r.StructuredContent.Value.GetRawText()}");
        return r.StructuredContent!.Value;
    }

    /// <summary>Calls a tool that must fail; returns its error text.</summary>
    public static async Task<string> ErrorAsync(McpClient client, string tool, Dictionary<string, object?> args)
    {
        var r = await client.CallToolAsync(tool, args);
        Assert.True(r.IsError is true, $"{tool} should have failed: {Text(r)}");
        return Text(r);
    }

    public static string Text(CallToolResult r) => string.Concat(r.Content.OfType<TextContentBlock>().Select(t => t.Text));
}
