using System.Text.Json;

namespace Airlock.Screening;

/// <summary>A tool as a server lists it.</summary>
public sealed record ToolIdentity(string Server, string Name);

/// <summary>Who is describing: the server and tool being screened and every tool known to the gateway, so that a
/// description naming another server's tool can be found.</summary>
public sealed record ToolContext(string Server, string Tool, IReadOnlyCollection<ToolIdentity> KnownTools)
{
    public static ToolContext None { get; } = new("", "", []);
}

/// <summary>The parts of an MCP tool definition that reach the model. <see cref="InputSchema"/> and
/// <see cref="Annotations"/> are the JSON as listed; every string in them (values and property names) is screened.</summary>
public sealed record ToolDescriptor(
    string Server,
    string Name,
    string? Description,
    JsonElement? InputSchema = null,
    JsonElement? Annotations = null,
    string? Title = null);

/// <summary>The screened tool. <see cref="Tool"/> carries the sanitized strings; call the upstream server by the
/// original name. <see cref="Blocked"/>: withhold the tool.</summary>
public sealed record ToolScreeningResult(ToolDescriptor Tool, IReadOnlyList<Finding> Findings, bool Blocked)
{
    public bool Clean => Findings.Count == 0;
}
