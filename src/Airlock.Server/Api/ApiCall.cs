using System.Diagnostics;
using Airlock.ControlPlane.Audit;
using Airlock.Core.Control;

namespace Airlock.Server.Api;

/// <summary>The audit record of one API call, filled in as the call proceeds and appended (durably) before the
/// caller sees the answer.</summary>
public sealed class ApiCall
{
    private readonly Stopwatch _watch = Stopwatch.StartNew();

    public required string Action { get; set; }
    public string Target { get; set; } = "";
    public string Tenant { get; set; } = "-";
    public string TokenId { get; set; } = "-";
    public string Decision { get; set; } = "allowed";
    public string Rule { get; set; } = "token";
    public string Outcome { get; set; } = "ok";
    public string Detail { get; set; } = "";
    public long? Seq { get; private set; }
    public TokenInfo? Token { get; set; }

    /// <summary>The response stream itself, for endpoints that stream (exec, run); others are buffered until the
    /// record is durable.</summary>
    public Stream? RealBody { get; set; }

    public bool Streamed { get; set; }

    public async Task<long> RecordAsync(AuditLog log)
    {
        if (Seq is { } done)
        {
            return done;
        }
        Seq = await log.AppendAsync(new AuditEntry(Tenant, TokenId, Action, Target, Decision, Rule, Outcome, _watch.Elapsed.TotalMilliseconds, Detail)).ConfigureAwait(false);
        return Seq.Value;
    }

    public static ApiCall Of(HttpContext ctx) => (ApiCall)ctx.Items[typeof(ApiCall)]!;

    public string TenantOrThrow => Token?.Tenant ?? throw new InvalidOperationException("no token");
}
