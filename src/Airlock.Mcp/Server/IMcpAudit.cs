using Airlock.ControlPlane.Audit;

namespace Airlock.Mcp.Server;

/// <summary>One MCP tool call, as the audit trail records it.</summary>
/// <param name="Action"><c>mcp.TOOL</c>.</param>
/// <param name="Target">The sandbox, or for run_code/create_sandbox the template when no sandbox exists yet.</param>
/// <param name="Decision"><c>allowed</c> or <c>denied</c>.</param>
/// <param name="Rule">The rule that decided (<c>mcp:allow-template</c>, <c>mcp:session-owner</c>, …).</param>
/// <param name="Outcome"><c>ok</c>, <c>exit:N</c> (with <c>killed:REASON</c>), or an error code.</param>
/// <param name="Detail">Session id and the SHA-256 of the arguments; never the code or file contents.</param>
public sealed record McpAuditEntry(string Tenant, string TokenId, string Action, string Target, string Decision, string Rule,
    string Outcome, double DurationMs, string Detail);

/// <summary>Where tool calls are recorded. The daemon's is its hash-chained <see cref="AuditLog"/>; a stdio server
/// without a daemon has none.</summary>
public interface IMcpAudit
{
    /// <summary>Returns once the record is durable (its sequence number), or null when nothing is recorded.</summary>
    Task<long?> RecordAsync(McpAuditEntry entry);
}

public sealed class NoMcpAudit : IMcpAudit
{
    public static NoMcpAudit Instance { get; } = new();

    public Task<long?> RecordAsync(McpAuditEntry entry) => Task.FromResult<long?>(null);
}

/// <summary>Appends to the daemon's audit log (group-committed, durable before the tool answers).</summary>
public sealed class AuditLogMcpAudit(AuditLog log) : IMcpAudit
{
    public async Task<long?> RecordAsync(McpAuditEntry e) =>
        await log.AppendAsync(new AuditEntry(e.Tenant, e.TokenId, e.Action, e.Target, e.Decision, e.Rule, e.Outcome, e.DurationMs, e.Detail)).ConfigureAwait(false);
}
