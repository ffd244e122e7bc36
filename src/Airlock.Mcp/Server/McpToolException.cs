using Airlock.Core;

namespace Airlock.Mcp.Server;

/// <summary>A tool call refused by this server's policy (not by the sandbox): the audit record says
/// <c>denied</c> with <see cref="Rule"/>, and the agent gets the message and the remedy.</summary>
public sealed class McpToolException(string code, string rule, string message, string? remedy = null)
    : AirlockException(code, message, remedy)
{
    /// <summary>Which rule refused it, e.g. <c>mcp:allow-template</c>, <c>mcp:session-owner</c>.</summary>
    public string Rule { get; } = rule;
}
