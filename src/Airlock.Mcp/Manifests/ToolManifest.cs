using System.Text.Json;

namespace Airlock.Mcp.Manifests;

/// <summary>One tool as an MCP server lists it, exactly as received: what an approval pins.</summary>
/// <param name="Name">Tool name as the upstream server spells it (not the gateway's namespaced name).</param>
/// <param name="Description">Description shown to the agent; a change after approval is a rug pull.</param>
/// <param name="InputSchema">JSON Schema of the arguments.</param>
/// <param name="Annotations">MCP tool annotations (readOnlyHint, destructiveHint, …) as JSON.</param>
/// <remarks>A JSON <c>null</c> and an absent value are the same to the canonical form.</remarks>
public sealed record ToolRecord(string Name, string? Description, JsonElement? InputSchema, JsonElement? Annotations);

/// <summary>What an approval pins for one server: every tool it listed at that moment.</summary>
/// <param name="Server">Server name as configured in the gateway (the key of <c>servers:</c>).</param>
/// <param name="Tools">The approved tools; order does not matter, names must be unique.</param>
/// <param name="ApprovedAt">When the approval happened; kept to 100 ns, in UTC.</param>
/// <param name="Approver">Who approved (user or publisher name); informational, not checked.</param>
public sealed record ToolManifest(string Server, IReadOnlyList<ToolRecord> Tools, DateTimeOffset ApprovedAt, string? Approver = null);
