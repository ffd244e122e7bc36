using Airlock.Mcp.Server;

namespace Airlock.Mcp.Gateway;

/// <summary>
/// The gateway's audit records (<c>mcp.gateway.call</c>, <c>.finding</c>, <c>.withheld</c>, <c>.manifest</c>,
/// <c>.upstream</c>, <c>.egress</c>) into the hash-chained audit log. A record is queued in call order and is durable
/// within one group commit; the tool result does not wait for the fsync (that would cost the agent a disk flush per
/// call), and <see cref="FlushAsync"/> — called at shutdown — waits for every queued record.
/// </summary>
public sealed class GatewayAuditTrail(IMcpAudit audit, string tenant, TextWriter? log = null)
{
    private readonly Lock _gate = new();
    private Task _last = Task.CompletedTask;

    public void Record(string action, string target, string decision, string rule, string outcome, double durationMs, string detail)
    {
        var t = audit.RecordAsync(new McpAuditEntry(tenant, "-", action, target, decision, rule, outcome, durationMs, detail));
        if (t.IsCompletedSuccessfully)
        {
            return;
        }
        lock (_gate)
        {
            _last = Observe(t);
        }
    }

    private async Task Observe(Task<long?> t)
    {
        try
        {
            await t.ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            (log ?? Console.Error).WriteLine($"airlock gateway: audit record lost: {e.Message}");
        }
    }

    /// <summary>Waits until every record queued so far is durable (records commit in order).</summary>
    public Task FlushAsync()
    {
        lock (_gate)
        {
            return _last;
        }
    }
}
