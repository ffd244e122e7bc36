using System.Text.Json.Nodes;
using Airlock.Guest.Protocol;

namespace Airlock.Core.Control;

// Wire shapes of the daemon's HTTP API (/v1), shared by the server and Airlock.Client.

/// <summary>POST /v1/sandboxes. Either <c>spec.sandboxTemplateRef</c> names a template, or <c>template</c> is given
/// inline (validated like an applied one). A missing name is generated (<c>sbx-</c> + 12 hex digits).</summary>
public sealed record CreateSandboxRequest(string? Name = null, SandboxSpec? Spec = null, JsonObject? Template = null);

/// <summary>PATCH /v1/sandboxes/{name}: change the operating mode or the shutdown time.</summary>
public sealed record PatchSandboxRequest(string? OperatingMode = null, DateTimeOffset? ShutdownTime = null);

/// <summary>POST /v1/claims.</summary>
public sealed record CreateClaimRequest(string? Name = null, SandboxClaimSpec? Spec = null);

/// <summary>POST /v1/sandboxes/{name}/exec.</summary>
public sealed record ExecRequestBody
{
    public IReadOnlyList<string> Argv { get; set; } = [];
    public IReadOnlyDictionary<string, string>? Env { get; set; }
    public string? Cwd { get; set; }
    public long? TimeoutMs { get; set; }
    public long? OutputLimit { get; set; }
    public byte[]? Stdin { get; set; }
}

/// <summary>POST /v1/run: one command in an ephemeral sandbox (adopted from a warm pool of the same template when
/// one is ready), destroyed afterwards.</summary>
public sealed record RunRequestBody
{
    public NameRef? SandboxTemplateRef { get; set; }
    public JsonObject? Template { get; set; }
    public ExecRequestBody Exec { get; set; } = new();
}

/// <summary>One line of a streamed exec (<c>application/x-ndjson</c>): output chunks, then exactly one closing line
/// with <c>result</c> (or <c>error</c>), sent only after the call's audit record is durable.</summary>
public sealed record ExecFrame
{
    public byte[]? Stdout { get; set; }
    public byte[]? Stderr { get; set; }
    public ExecResult? Result { get; set; }
    public string? Sandbox { get; set; }
    public long? AuditSeq { get; set; }
    public Problem? Error { get; set; }
}

/// <summary>Non-streamed exec answer (<c>?stream=false</c>).</summary>
public sealed record ExecResponse(string Sandbox, ExecResult Result, string Stdout, string Stderr);

/// <summary>RFC 9457 problem details with Airlock's stable <c>code</c>, the offending fields and a remedy.</summary>
public sealed record Problem
{
    public string Type { get; set; } = "about:blank";
    public string Title { get; set; } = "";
    public int Status { get; set; }
    public string? Detail { get; set; }
    public string Code { get; set; } = "";
    public string? Remedy { get; set; }
    public IReadOnlyList<ProblemField>? Errors { get; set; }
}

public sealed record ProblemField(string Field, string Reason);

public sealed record TokenInfo(string Id, string Tenant, IReadOnlyList<string> Scopes, DateTimeOffset CreatedAt, DateTimeOffset? ExpiresAt);

/// <summary>One record of the hash-chained audit log.</summary>
public sealed record AuditRecord
{
    public long Seq { get; set; }
    public DateTimeOffset Time { get; set; }
    public string Tenant { get; set; } = "";
    public string TokenId { get; set; } = "";
    public string Action { get; set; } = "";
    public string Target { get; set; } = "";
    /// <summary><c>allowed</c> or <c>denied</c>.</summary>
    public string Decision { get; set; } = "";
    /// <summary>The rule that decided (e.g. <c>token</c>, <c>tenant</c>, <c>scope:sandbox</c>).</summary>
    public string Rule { get; set; } = "";
    /// <summary><c>ok</c>, <c>exit:N</c>, or an error code.</summary>
    public string Outcome { get; set; } = "";
    public double DurationMs { get; set; }
    public string Detail { get; set; } = "";
    public string PrevHash { get; set; } = "";
    public string Hash { get; set; } = "";
}

public sealed record HealthResponse(string Status, string Version);
