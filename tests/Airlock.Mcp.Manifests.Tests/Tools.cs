using System.Text.Json;
using Airlock.Mcp.Manifests;

namespace Airlock.Mcp.Manifests.Tests;

/// <summary>Tool records as an upstream server would list them, and a scratch directory per test.</summary>
internal static class Tools
{
    public static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement.Clone();

    public static ToolRecord Tool(string name, string? description = null, string? schema = null, string? annotations = null) =>
        new(name, description, schema is null ? null : Json(schema), annotations is null ? null : Json(annotations));

    public static ToolRecord ReadFile => Tool("read_file", "Reads a file under /workspace.",
        """{"type":"object","properties":{"path":{"type":"string","maxLength":4096}},"required":["path"]}""",
        """{"readOnlyHint":true}""");

    public static ToolRecord WriteFile => Tool("write_file", "Writes a file under /workspace.",
        """{"type":"object","properties":{"path":{"type":"string"},"content":{"type":"string"}},"required":["path","content"]}""",
        """{"destructiveHint":true}""");

    public static ToolManifest Manifest(string server = "fs", params ToolRecord[] tools) => Manifest(server, "alice", tools);

    public static ToolManifest Manifest(string server, string? approver, params ToolRecord[] tools) =>
        new(server, tools.Length == 0 ? [ReadFile, WriteFile] : tools, new DateTimeOffset(2025, 3, 1, 12, 30, 15, 123, TimeSpan.Zero).AddTicks(4567), approver);

    public static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "airlock-manifest-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }
}
