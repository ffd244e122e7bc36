using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Airlock.Core;
using Airlock.Core.Backends;
using Airlock.Guest.Protocol;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Airlock.Mcp.Server;

/// <summary>The result of run_code and exec.</summary>
public sealed record ExecOutput(string Stdout, string Stderr, int ExitCode, string? KilledReason, bool Truncated, long DurationMs, string Sandbox);

/// <summary>The result of create_sandbox.</summary>
public sealed record SandboxOutput(string Sandbox, string Template, DateTimeOffset ExpiresAt);

/// <summary>The result of write_file.</summary>
public sealed record WriteFileOutput(string Sandbox, string Path, long Bytes);

/// <summary>The result of read_file: the text (UTF-8, invalid bytes replaced), at most the server's file limit.</summary>
public sealed record ReadFileOutput(string Sandbox, string Path, string Content, long Bytes, bool Truncated);

public sealed record FileItem(string Name, string Type, long Size);

/// <summary>The result of list_files.</summary>
public sealed record ListFilesOutput(string Sandbox, string Path, IReadOnlyList<FileItem> Entries);

/// <summary>The result of destroy_sandbox.</summary>
public sealed record DestroyOutput(string Sandbox, bool Destroyed);

/// <summary>What every tool call shares: configuration, sessions, the result screen and the audit trail.</summary>
public sealed class AirlockMcpRuntime(McpServerConfig config, McpSessions sessions, IResultScreen screen, IMcpAudit audit)
{
    public McpServerConfig Config { get; } = config;
    public McpSessions Sessions { get; } = sessions;
    public IResultScreen Screen { get; } = screen;
    public IMcpAudit Audit { get; } = audit;

    /// <summary>HTTP: who sends the current request (its token's tenant), checked against the session's owner so a
    /// session id alone is not enough to use another tenant's sandboxes. Null for stdio.</summary>
    public Func<McpCaller?>? CurrentCaller { get; set; }

    /// <summary>HTTP: the <c>Mcp-Session-Id</c> of the current request (the tool's <see cref="McpServer"/> may be a
    /// per-request view that does not carry it). Null for stdio.</summary>
    public Func<string?>? CurrentSessionId { get; set; }
}

/// <summary>
/// The seven tools: run_code, create_sandbox, exec, write_file, read_file, list_files, destroy_sandbox. Each call is
/// checked against the server's configuration (allowed templates, languages, limits) and the session's ownership of
/// the sandbox, its sandbox-derived text goes through <see cref="IResultScreen"/>, and it is audited with a digest of
/// its arguments (never the code or file contents).
/// </summary>
[McpServerToolType]
public sealed class AirlockTools(AirlockMcpRuntime rt)
{
    /// <summary>Linux refuses a single argument longer than this (MAX_ARG_STRLEN, 128 KiB); code and commands travel as one.</summary>
    public const int MaxArgBytes = 100 * 1024;

    public static readonly string[] Names = ["run_code", "create_sandbox", "exec", "write_file", "read_file", "list_files", "destroy_sandbox"];

    [McpServerTool(Name = "run_code", Title = "Run code in a fresh sandbox", Destructive = false, OpenWorld = false, UseStructuredContent = true, OutputSchemaType = typeof(ExecOutput))]
    [Description("Run a snippet in a new, isolated sandbox that is destroyed afterwards (no network, no host files). Returns stdout, stderr, exit code and why it was killed, if it was.")]
    public Task<CallToolResult> RunCode(McpServer server,
        [Description("python, javascript or shell (what this server offers is in the error if unavailable)")] string language,
        [Description("The program text")] string code,
        [Description("Seconds before the run is killed (default 30)")] int? timeout = null,
        CancellationToken ct = default) =>
        CallAsync(server, "run_code", language, new() { ["language"] = language, ["code"] = code, ["timeout"] = timeout }, async (s, call) =>
        {
            var binding = rt.Config.LanguageOrThrow(language);
            call.Target = binding.Template;
            var spec = Spec([.. binding.Argv, ArgOrThrow("code", code)], timeout);
            var template = await s.Caller.Host.ResolveTemplateAsync(binding.Template, ct).ConfigureAwait(false);
            var (stdout, stderr, io) = Capture();
            var r = await s.Caller.Host.RunAsync(template, spec, io, ct).ConfigureAwait(false);
            call.Target = r.SandboxId.Length > 0 ? r.SandboxId : binding.Template;
            call.Detail += " template=" + binding.Template;
            return (ToOutput("run_code", r.SandboxId, r.Result, stdout, stderr), Outcome(r.Result));
        });

    [McpServerTool(Name = "create_sandbox", Title = "Create a sandbox", Destructive = false, OpenWorld = false, UseStructuredContent = true, OutputSchemaType = typeof(SandboxOutput))]
    [Description("Start a sandbox from an allowed template for exec and file tools. It belongs to this session: destroyed when the session ends or at expiresAt.")]
    public Task<CallToolResult> CreateSandbox(McpServer server,
        [Description("Template name; the server decides which are allowed")] string template,
        CancellationToken ct = default) =>
        CallAsync(server, "create_sandbox", template, new() { ["template"] = template }, async (s, call) =>
        {
            rt.Config.TemplateOrThrow(template);
            s.Reserve(rt.Config.MaxSandboxes);
            var name = "mcp-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(5));
            var expires = DateTimeOffset.UtcNow + rt.Config.MaxLifetime;
            try
            {
                await s.Caller.Host.CreateAsync(template, name, expires, ct).ConfigureAwait(false);
            }
            catch
            {
                s.Commit(null);
                throw;
            }
            if (!s.Commit(name))
            {
                await s.Caller.Host.DestroyAsync(name, CancellationToken.None).ConfigureAwait(false);
                throw new McpToolException(AirlockException.ErrorCodes.Conflict, "mcp:session", "the MCP session ended while the sandbox started", "start a new session");
            }
            call.Target = name;
            call.Detail += " template=" + template;
            return (new SandboxOutput(name, template, expires), "ok");
        });

    [McpServerTool(Name = "exec", Title = "Run a command in a sandbox", Destructive = true, OpenWorld = false, UseStructuredContent = true, OutputSchemaType = typeof(ExecOutput))]
    [Description("Run a shell command (/bin/sh -c) in a sandbox this session created. Returns stdout, stderr, exit code and kill reason.")]
    public Task<CallToolResult> Exec(McpServer server,
        [Description("Sandbox name from create_sandbox")] string sandbox,
        [Description("Shell command line")] string command,
        [Description("Seconds before the command is killed (default 30)")] int? timeout = null,
        CancellationToken ct = default) =>
        CallAsync(server, "exec", sandbox, new() { ["sandbox"] = sandbox, ["command"] = command, ["timeout"] = timeout }, async (s, call) =>
        {
            s.RequireOwned(sandbox);
            var spec = Spec(["/bin/sh", "-c", ArgOrThrow("command", command)], timeout);
            var (stdout, stderr, io) = Capture();
            var r = await s.Caller.Host.ExecAsync(sandbox, spec, io, ct).ConfigureAwait(false);
            return (ToOutput("exec", sandbox, r, stdout, stderr), Outcome(r));
        });

    [McpServerTool(Name = "write_file", Title = "Write a file in a sandbox", Destructive = true, OpenWorld = false, UseStructuredContent = true, OutputSchemaType = typeof(WriteFileOutput))]
    [Description("Write UTF-8 text to a file in the workspace of a sandbox this session created (replaces it; parent directories must exist).")]
    public Task<CallToolResult> WriteFile(McpServer server,
        [Description("Sandbox name from create_sandbox")] string sandbox,
        [Description("Path relative to the workspace")] string path,
        [Description("File content")] string content,
        CancellationToken ct = default) =>
        CallAsync(server, "write_file", sandbox, new() { ["sandbox"] = sandbox, ["path"] = path, ["content"] = content }, async (s, call) =>
        {
            s.RequireOwned(sandbox);
            var bytes = Encoding.UTF8.GetBytes(content);
            if (bytes.Length > rt.Config.MaxFileBytes)
            {
                throw new McpToolException(AirlockException.ErrorCodes.TooLarge, "mcp:max-file-bytes",
                    $"content is {bytes.Length} bytes, more than this server's limit of {rt.Config.MaxFileBytes}", "write it in smaller files");
            }
            var n = await s.Caller.Host.Files(sandbox).WriteAsync(path, new MemoryStream(bytes), 0x1A4, ct).ConfigureAwait(false);
            call.Detail += $" path={path} bytes={n}";
            return (new WriteFileOutput(sandbox, path, n), "ok");
        });

    [McpServerTool(Name = "read_file", Title = "Read a file from a sandbox", ReadOnly = true, OpenWorld = false, UseStructuredContent = true, OutputSchemaType = typeof(ReadFileOutput))]
    [Description("Read a file from the workspace of a sandbox this session created, as UTF-8 text (truncated at the server's limit).")]
    public Task<CallToolResult> ReadFile(McpServer server,
        [Description("Sandbox name from create_sandbox")] string sandbox,
        [Description("Path relative to the workspace")] string path,
        CancellationToken ct = default) =>
        CallAsync(server, "read_file", sandbox, new() { ["sandbox"] = sandbox, ["path"] = path }, async (s, call) =>
        {
            s.RequireOwned(sandbox);
            var sink = new CappedStream(rt.Config.MaxFileBytes);
            await s.Caller.Host.Files(sandbox).ReadAsync(path, sink, ct).ConfigureAwait(false);
            call.Detail += $" path={path} bytes={sink.Total}";
            var text = rt.Screen.Screen("read_file", Encoding.UTF8.GetString(sink.Kept.GetBuffer(), 0, (int)sink.Kept.Length));
            return (new ReadFileOutput(sandbox, path, text, sink.Total, sink.Total > sink.Kept.Length), "ok");
        });

    [McpServerTool(Name = "list_files", Title = "List files in a sandbox", ReadOnly = true, OpenWorld = false, UseStructuredContent = true, OutputSchemaType = typeof(ListFilesOutput))]
    [Description("List a directory of the workspace of a sandbox this session created.")]
    public Task<CallToolResult> ListFiles(McpServer server,
        [Description("Sandbox name from create_sandbox")] string sandbox,
        [Description("Directory relative to the workspace (default: the workspace)")] string? path = null,
        CancellationToken ct = default) =>
        CallAsync(server, "list_files", sandbox, new() { ["sandbox"] = sandbox, ["path"] = path }, async (s, call) =>
        {
            s.RequireOwned(sandbox);
            var dir = string.IsNullOrEmpty(path) ? "." : path;
            var entries = await s.Caller.Host.Files(sandbox).ListAsync(dir, ct).ConfigureAwait(false);
            call.Detail += $" path={dir} entries={entries.Count}";
            return (new ListFilesOutput(sandbox, dir, entries.Select(e => new FileItem(rt.Screen.Screen("list_files", e.Name), e.Type, e.Size)).ToList()), "ok");
        });

    [McpServerTool(Name = "destroy_sandbox", Title = "Destroy a sandbox", Destructive = true, Idempotent = false, OpenWorld = false, UseStructuredContent = true, OutputSchemaType = typeof(DestroyOutput))]
    [Description("Destroy a sandbox this session created: its processes and workspace are gone.")]
    public Task<CallToolResult> DestroySandbox(McpServer server,
        [Description("Sandbox name from create_sandbox")] string sandbox,
        CancellationToken ct = default) =>
        CallAsync(server, "destroy_sandbox", sandbox, new() { ["sandbox"] = sandbox }, async (s, call) =>
        {
            s.RequireOwned(sandbox);
            await s.Caller.Host.DestroyAsync(sandbox, ct).ConfigureAwait(false);
            s.Forget(sandbox);
            return (new DestroyOutput(sandbox, true), "ok");
        });

    // ------------------------------------------------------------------ plumbing

    /// <summary>What the audit record of one call says, filled in as the call proceeds.</summary>
    private sealed class Call
    {
        public required string Target { get; set; }
        public required string Detail { get; set; }
    }

    /// <summary>The SDK's options (camelCase, as in the output schemas), but writing nulls: the schemas list every
    /// property as required.</summary>
    private static readonly JsonSerializerOptions Json = new(McpJsonUtilities.DefaultOptions) { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.Never };

    private async Task<CallToolResult> CallAsync<T>(McpServer server, string tool, string target, JsonObject args,
        Func<McpToolSession, Call, Task<(T Output, string Outcome)>> body)
    {
        var sw = Stopwatch.StartNew();
        var current = rt.CurrentCaller?.Invoke();
        var sessionId = server.SessionId ?? rt.CurrentSessionId?.Invoke();
        var session = rt.Sessions.Find(sessionId);
        var caller = session?.Caller ?? current;
        var call = new Call { Target = McpServerConfig.Clip(target), Detail = $"session={session?.Id ?? "-"} args=sha256:{Digest(args)}" };
        string decision = "allowed", rule = "mcp", outcome;
        CallToolResult result;
        try
        {
            if (session is null)
            {
                throw new McpToolException(AirlockException.ErrorCodes.NotReady, "mcp:session", "this request belongs to no open MCP session",
                    "start a new session (initialize)");
            }
            if (current is not null && current.Tenant != session.Caller.Tenant)
            {
                throw new McpToolException(AirlockException.ErrorCodes.Forbidden, "mcp:session-tenant", "this MCP session belongs to another tenant",
                    "start your own session with your own token");
            }
            var (output, o) = await body(session, call).ConfigureAwait(false);
            outcome = o;
            var element = JsonSerializer.SerializeToElement(output, Json);
            result = new CallToolResult
            {
                Content = [new TextContentBlock { Text = element.GetRawText() }],
                StructuredContent = element,
            };
        }
        catch (McpToolException e)
        {
            (decision, rule, outcome) = ("denied", e.Rule, e.Code);
            result = Error(e);
        }
        catch (AirlockException e)
        {
            outcome = e.Code;
            result = Error(e);
        }
        catch (OperationCanceledException)
        {
            outcome = "cancelled";
            await RecordAsync().ConfigureAwait(false);
            throw;
        }
        catch (Exception e) when (e is IOException or HttpRequestException or InvalidOperationException)
        {
            outcome = "internal";
            result = Error(new AirlockException("internal", $"{tool} failed: {e.Message}"));
        }
        await RecordAsync().ConfigureAwait(false);
        return result;

        Task RecordAsync() => rt.Audit.RecordAsync(new McpAuditEntry(caller?.Tenant ?? "-", caller?.TokenId ?? "-", "mcp." + tool, call.Target,
            decision, rule, outcome, sw.Elapsed.TotalMilliseconds, call.Detail));
    }

    private static CallToolResult Error(AirlockException e) => new()
    {
        IsError = true,
        Content = [new TextContentBlock { Text = $"error ({e.Code}): {e.Message}" + (e.Remedy is { } r ? $"\nremedy: {r}" : "") }],
    };

    /// <summary>SHA-256 over the arguments as canonical JSON (keys sorted, no whitespace): lets an auditor match a
    /// call to what a client sent without the log holding code or file contents.</summary>
    public static string Digest(JsonObject args)
    {
        var sorted = new JsonObject();
        foreach (var (k, v) in args.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            sorted[k] = v?.DeepClone();
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sorted.ToJsonString())));
    }

    private ExecSpec Spec(IReadOnlyList<string> argv, int? timeout)
    {
        var t = rt.Config.DefaultTimeout;
        if (timeout is { } secs)
        {
            if (secs < 1 || TimeSpan.FromSeconds(secs) > rt.Config.MaxTimeout)
            {
                throw new McpToolException(AirlockException.ErrorCodes.InvalidArgument, "mcp:max-timeout",
                    $"timeout must be between 1 and {(int)rt.Config.MaxTimeout.TotalSeconds} seconds on this server, not {secs}", "give a shorter timeout");
            }
            t = TimeSpan.FromSeconds(secs);
        }
        return new ExecSpec(argv, Timeout: t, OutputLimit: rt.Config.MaxOutputBytes);
    }

    private static string ArgOrThrow(string field, string value) =>
        value.Length == 0 ? throw new McpToolException(AirlockException.ErrorCodes.InvalidArgument, "mcp:argument", $"{field} is empty", $"give the {field} to run")
        : Encoding.UTF8.GetByteCount(value) > MaxArgBytes ? throw new McpToolException(AirlockException.ErrorCodes.TooLarge, "mcp:argument",
            $"{field} is longer than {MaxArgBytes / 1024} KiB", "write it to a file with write_file and run that with exec")
        : value;

    private static (MemoryStream Stdout, MemoryStream Stderr, ExecIo Io) Capture()
    {
        var stdout = new MemoryStream();
        var stderr = new MemoryStream();
        return (stdout, stderr, ExecIo.Capture(stdout, stderr));
    }

    private ExecOutput ToOutput(string tool, string sandbox, ExecResult r, MemoryStream stdout, MemoryStream stderr) => new(
        rt.Screen.Screen(tool, Encoding.UTF8.GetString(stdout.GetBuffer(), 0, (int)stdout.Length)),
        rt.Screen.Screen(tool, Encoding.UTF8.GetString(stderr.GetBuffer(), 0, (int)stderr.Length)),
        r.ExitCode, r.KilledReason, r.Truncated, r.DurationMs, sandbox);

    private static string Outcome(ExecResult r) => r.KilledReason is { } k
        ? string.Create(CultureInfo.InvariantCulture, $"exit:{r.ExitCode} killed:{k}")
        : string.Create(CultureInfo.InvariantCulture, $"exit:{r.ExitCode}");

    /// <summary>Keeps the first <c>cap</c> bytes written and counts the rest.</summary>
    private sealed class CappedStream(long cap) : Stream
    {
        public MemoryStream Kept { get; } = new();
        public long Total { get; private set; }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            var room = (int)Math.Max(0, Math.Min(buffer.Length, cap - Kept.Length));
            Kept.Write(buffer[..room]);
            Total += buffer.Length;
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Write(buffer.AsSpan(offset, count));
            return Task.CompletedTask;
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => Total;
        public override long Position { get => Total; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
