using System.Text.Json.Nodes;
using Airlock.Core;
using Airlock.Core.Util;
using Airlock.Core.Validation;
using YamlDotNet.Core;

namespace Airlock.Mcp;

/// <summary>Reading the YAML configs of the MCP server and the gateway: one error shape for both.</summary>
internal static class ConfigFile
{
    /// <summary>The file's text and its directory (relative paths in it are relative to that).</summary>
    public static (string Text, string BaseDir) Read(string path, string what)
    {
        try
        {
            return (File.ReadAllText(path), Path.GetDirectoryName(Path.GetFullPath(path))!);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AirlockException(AirlockException.ErrorCodes.File, $"cannot read {what} '{path}': {e.Message}", $"give the path of a {what} YAML file");
        }
    }

    /// <summary>YAML (or JSON) to a JSON tree; a syntax error names its line.</summary>
    public static JsonNode? Parse(string text, string source)
    {
        try
        {
            return YamlJson.Parse(text);
        }
        catch (YamlException e)
        {
            throw new ValidationException(source, [new ValidationError($"(line {e.Start.Line})", e.Message)]);
        }
    }
}
