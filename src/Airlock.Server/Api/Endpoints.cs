using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Airlock.ControlPlane.Audit;
using Airlock.ControlPlane.Lifecycle;
using Airlock.Core;
using Airlock.Core.Backends;
using Airlock.Core.Control;
using Airlock.Core.Model;
using Airlock.Core.Validation;
using Airlock.Guest.Protocol;

namespace Airlock.Server.Api;

/// <summary>The /v1 HTTP API. Handlers read and write JSON with the source-generated <see cref="ControlJson"/>, so an
/// unknown field or a malformed body is a 400 naming where it went wrong.</summary>
public static class Endpoints
{
    public const long JsonLimit = 1 << 20;
    public const long ExecLimit = 16 << 20;
    public const long FileLimit = 64 << 20;

    public static void Map(WebApplication app)
    {
        app.MapGet("/healthz", () => Results.Json(new HealthResponse("ok", typeof(Endpoints).Assembly.GetName().Version?.ToString() ?? "0"), ControlJson.Default.HealthResponse))
            .WithName("health");

        var v1 = app.MapGroup("/v1");

        // templates
        v1.MapGet("/templates", (HttpContext c, SandboxController ctl) => Json(c, ctl.ListTemplates(Tenant(c)), ControlJson.Default.IReadOnlyListSandboxTemplate))
            .With("template.list", null).Produces<IReadOnlyList<SandboxTemplate>>();
        v1.MapGet("/templates/{name}", (HttpContext c, SandboxController ctl, string name) => Json(c, ctl.ResolveTemplate(Tenant(c), CheckName(name)), ControlJson.Default.SandboxTemplate))
            .With("template.get", null).Produces<SandboxTemplate>();
        v1.MapPut("/templates/{name}", async (HttpContext c, SandboxController ctl, string name) =>
        {
            var node = await ReadJsonAsync(c, ControlJson.Default.JsonObject, JsonLimit).ConfigureAwait(false);
            var t = ParseTemplate(node, CheckName(name));
            await Json(c, ctl.ApplyTemplate(Tenant(c), t), ControlJson.Default.SandboxTemplate).ConfigureAwait(false);
        }).With("template.apply", "template").Accepts<SandboxTemplate>("application/json").Produces<SandboxTemplate>();
        v1.MapDelete("/templates/{name}", (HttpContext c, SandboxController ctl, string name) =>
        {
            ctl.DeleteTemplate(Tenant(c), CheckName(name));
            return Results.NoContent();
        }).With("template.delete", "template");

        // warm pools
        v1.MapGet("/pools", (HttpContext c, SandboxController ctl) => Json(c, ctl.ListPools(Tenant(c)), ControlJson.Default.IReadOnlyListSandboxWarmPool))
            .With("pool.list", null).Produces<IReadOnlyList<SandboxWarmPool>>();
        v1.MapGet("/pools/{name}", (HttpContext c, SandboxController ctl, string name) => Json(c, ctl.GetPool(Tenant(c), CheckName(name)), ControlJson.Default.SandboxWarmPool))
            .With("pool.get", null).Produces<SandboxWarmPool>();
        v1.MapPut("/pools/{name}", async (HttpContext c, SandboxController ctl, string name) =>
        {
            var spec = await ReadJsonAsync(c, ControlJson.Default.SandboxWarmPoolSpec, JsonLimit).ConfigureAwait(false);
            await Json(c, ctl.ApplyPool(Tenant(c), CheckName(name), spec), ControlJson.Default.SandboxWarmPool).ConfigureAwait(false);
        }).With("pool.apply", "template").Accepts<SandboxWarmPoolSpec>("application/json").Produces<SandboxWarmPool>();
        v1.MapDelete("/pools/{name}", async (HttpContext c, SandboxController ctl, string name) =>
        {
            await ctl.DeletePoolAsync(Tenant(c), CheckName(name), c.RequestAborted).ConfigureAwait(false);
            return Results.NoContent();
        }).With("pool.delete", "template");

        // claims
        v1.MapPost("/claims", async (HttpContext c, SandboxController ctl) =>
        {
            var req = await ReadJsonAsync(c, ControlJson.Default.CreateClaimRequest, JsonLimit).ConfigureAwait(false);
            var claim = await ctl.CreateClaimAsync(Tenant(c), req, c.RequestAborted).ConfigureAwait(false);
            var call = ApiCall.Of(c);
            call.Target = claim.Name;
            call.Detail = $"sandbox={claim.Status.Sandbox?.Name} ms={claim.Status.ClaimMs.ToString(CultureInfo.InvariantCulture)}";
            await Json(c, claim, ControlJson.Default.SandboxClaim, 201).ConfigureAwait(false);
        }).With("claim.create", "sandbox").Accepts<CreateClaimRequest>("application/json").Produces<SandboxClaim>(201);
        v1.MapGet("/claims", (HttpContext c, SandboxController ctl) => Json(c, ctl.ListClaims(Tenant(c)), ControlJson.Default.IReadOnlyListSandboxClaim))
            .With("claim.list", "sandbox").Produces<IReadOnlyList<SandboxClaim>>();
        v1.MapGet("/claims/{name}", (HttpContext c, SandboxController ctl, string name) => Json(c, ctl.GetClaim(Tenant(c), CheckName(name)), ControlJson.Default.SandboxClaim))
            .With("claim.get", "sandbox").Produces<SandboxClaim>();
        v1.MapDelete("/claims/{name}", async (HttpContext c, SandboxController ctl, string name) =>
        {
            await ctl.DeleteClaimAsync(Tenant(c), CheckName(name), c.RequestAborted).ConfigureAwait(false);
            return Results.NoContent();
        }).With("claim.delete", "sandbox");

        // sandboxes
        v1.MapPost("/sandboxes", async (HttpContext c, SandboxController ctl) =>
        {
            var req = await ReadJsonAsync(c, ControlJson.Default.CreateSandboxRequest, JsonLimit).ConfigureAwait(false);
            var inline = req.Template is { } t ? ParseTemplate(t, null) : null;
            var s = await ctl.CreateSandboxAsync(Tenant(c), req.Name, req.Spec, inline, c.RequestAborted).ConfigureAwait(false);
            ApiCall.Of(c).Target = s.Name;
            await Json(c, s, ControlJson.Default.Sandbox, 201).ConfigureAwait(false);
        }).With("sandbox.create", "sandbox").Accepts<CreateSandboxRequest>("application/json").Produces<Sandbox>(201);
        v1.MapGet("/sandboxes", (HttpContext c, SandboxController ctl) => Json(c, ctl.ListSandboxes(Tenant(c)), ControlJson.Default.IReadOnlyListSandbox))
            .With("sandbox.list", "sandbox").Produces<IReadOnlyList<Sandbox>>();
        v1.MapGet("/sandboxes/{name}", (HttpContext c, SandboxController ctl, string name) => Json(c, ctl.GetSandbox(Tenant(c), CheckName(name)), ControlJson.Default.Sandbox))
            .With("sandbox.get", "sandbox").Produces<Sandbox>();
        v1.MapPatch("/sandboxes/{name}", async (HttpContext c, SandboxController ctl, string name) =>
        {
            var patch = await ReadJsonAsync(c, ControlJson.Default.PatchSandboxRequest, JsonLimit).ConfigureAwait(false);
            ApiCall.Of(c).Detail = patch.OperatingMode is { } m ? "operatingMode=" + m : "";
            await Json(c, await ctl.PatchSandboxAsync(Tenant(c), CheckName(name), patch, c.RequestAborted).ConfigureAwait(false), ControlJson.Default.Sandbox).ConfigureAwait(false);
        }).With("sandbox.patch", "sandbox").Accepts<PatchSandboxRequest>("application/json").Produces<Sandbox>();
        v1.MapDelete("/sandboxes/{name}", async (HttpContext c, SandboxController ctl, string name) =>
        {
            await ctl.DeleteSandboxAsync(Tenant(c), CheckName(name), c.RequestAborted).ConfigureAwait(false);
            return Results.NoContent();
        }).With("sandbox.delete", "sandbox");

        v1.MapPost("/sandboxes/{name}/exec", async (HttpContext c, SandboxController ctl, AuditLog audit, string name) =>
        {
            CheckName(name);
            var body = await ReadJsonAsync(c, ControlJson.Default.ExecRequestBody, ExecLimit).ConfigureAwait(false);
            var spec = ToSpec(body);
            ApiCall.Of(c).Detail = "argv0=" + spec.Argv[0];
            await ExecAsync(c, audit, name, body.Stdin, (io, ct) => ctl.ExecAsync(Tenant(c), name, spec, io, ct)).ConfigureAwait(false);
        }).With("sandbox.exec", "sandbox").Accepts<ExecRequestBody>("application/json");

        v1.MapPost("/run", async (HttpContext c, SandboxController ctl, AuditLog audit) =>
        {
            var body = await ReadJsonAsync(c, ControlJson.Default.RunRequestBody, ExecLimit).ConfigureAwait(false);
            var tenant = Tenant(c);
            SandboxTemplate template = (body.Template, body.SandboxTemplateRef) switch
            {
                ({ } t, null) => ParseTemplate(t, null),
                (null, { } r) => ctl.ResolveTemplate(tenant, CheckName(r.Name, "sandboxTemplateRef.name")),
                _ => throw new ValidationException("run request", [new ValidationError("template", "give exactly one of template and sandboxTemplateRef")]),
            };
            var spec = ToSpec(body.Exec);
            var call = ApiCall.Of(c);
            call.Target = template.Name;
            call.Detail = "argv0=" + spec.Argv[0];
            string? sandbox = null;
            await ExecAsync(c, audit, null, body.Exec.Stdin, async (io, ct) =>
            {
                var r = await ctl.RunAsync(tenant, template, spec, io, ct).ConfigureAwait(false);
                sandbox = r.SandboxId;
                call.Detail += " sandbox=" + r.SandboxId;
                return r.Result;
            }, () => sandbox).ConfigureAwait(false);
        }).With("sandbox.run", "sandbox").Accepts<RunRequestBody>("application/json");

        // files
        v1.MapGet("/sandboxes/{name}/files", async (HttpContext c, SandboxController ctl, AuditLog audit, ControlPlane.Store.ControlStore store, string name) =>
        {
            var path = PathArg(c);
            // Spooled to a file, not memory (a workspace may hold gigabytes), so the audit record (with the size) is
            // durable before the first byte leaves.
            var spool = Path.Combine(store.DataDir, "spool");
            Directory.CreateDirectory(spool);
            var tmp = Path.Combine(spool, Guid.NewGuid().ToString("N"));
            await using var data = new FileStream(tmp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
            await ctl.WithFilesAsync(Tenant(c), CheckName(name), f => f.ReadAsync(path, data, c.RequestAborted)).ConfigureAwait(false);
            var call = ApiCall.Of(c);
            call.Detail = $"path={path} bytes={data.Length}";
            var seq = await call.RecordAsync(audit).ConfigureAwait(false);
            c.Response.Headers[AuditAuthMiddleware.SeqHeader] = seq.ToString(CultureInfo.InvariantCulture);
            c.Response.ContentType = "application/octet-stream";
            c.Response.ContentLength = data.Length;
            call.Streamed = true;
            data.Position = 0;
            await data.CopyToAsync(call.RealBody!, c.RequestAborted).ConfigureAwait(false);
        }).With("file.read", "sandbox");
        v1.MapPut("/sandboxes/{name}/files", async (HttpContext c, SandboxController ctl, string name) =>
        {
            var path = PathArg(c);
            var mode = c.Request.Query["mode"] is { Count: > 0 } m ? ParseMode(m.ToString()) : 0x1A4;
            var body = await ReadBodyAsync(c, FileLimit).ConfigureAwait(false);
            var n = await ctl.WithFilesAsync(Tenant(c), CheckName(name), f => f.WriteAsync(path, body, mode, c.RequestAborted)).ConfigureAwait(false);
            ApiCall.Of(c).Detail = $"path={path} bytes={n}";
            return Results.NoContent();
        }).With("file.write", "sandbox");
        v1.MapGet("/sandboxes/{name}/files/list", async (HttpContext c, SandboxController ctl, string name) =>
        {
            var path = c.Request.Query["path"] is { Count: > 0 } p && p.ToString().Length > 0 ? p.ToString() : ".";
            var entries = await ctl.WithFilesAsync(Tenant(c), CheckName(name), f => f.ListAsync(path, c.RequestAborted)).ConfigureAwait(false);
            await Json(c, entries, ControlJson.Default.IReadOnlyListFileEntry).ConfigureAwait(false);
        }).With("file.list", "sandbox").Produces<IReadOnlyList<FileEntry>>();
        v1.MapDelete("/sandboxes/{name}/files", async (HttpContext c, SandboxController ctl, string name) =>
        {
            var path = PathArg(c);
            var recursive = c.Request.Query["recursive"] == "true";
            await ctl.WithFilesAsync(Tenant(c), CheckName(name), async f => { await f.DeleteAsync(path, recursive, c.RequestAborted).ConfigureAwait(false); return 0; }).ConfigureAwait(false);
            ApiCall.Of(c).Detail = "path=" + path;
            return Results.NoContent();
        }).With("file.delete", "sandbox");
        v1.MapPost("/sandboxes/{name}/files/mkdir", async (HttpContext c, SandboxController ctl, string name) =>
        {
            var path = PathArg(c);
            await ctl.WithFilesAsync(Tenant(c), CheckName(name), async f => { await f.MkdirAsync(path, true, c.RequestAborted).ConfigureAwait(false); return 0; }).ConfigureAwait(false);
            ApiCall.Of(c).Detail = "path=" + path;
            return Results.NoContent();
        }).With("file.mkdir", "sandbox");

        // events: the caller's tenant's audit records
        v1.MapGet("/events", async (HttpContext c, ControlPlane.Store.ControlStore store) =>
        {
            var after = long.TryParse(c.Request.Query["after"], NumberStyles.None, CultureInfo.InvariantCulture, out var a) ? a : 0;
            var limit = int.TryParse(c.Request.Query["limit"], NumberStyles.None, CultureInfo.InvariantCulture, out var l) ? Math.Clamp(l, 1, 1000) : 100;
            var kind = c.Request.Query["kind"] is { Count: > 0 } k ? k.ToString() : null;
            var records = store.Locked(db => AuditLog.Read(db, after, limit, Tenant(c), kind));
            await Json(c, (IReadOnlyList<AuditRecord>)records, ControlJson.Default.IReadOnlyListAuditRecord).ConfigureAwait(false);
        }).With("audit.events", "audit").Produces<IReadOnlyList<AuditRecord>>();
    }

    /// <summary>A template from a JSON body, laid over the defaults like a template file; the route's name wins when
    /// the body names none, and must match when it does.</summary>
    private static SandboxTemplate ParseTemplate(System.Text.Json.Nodes.JsonObject node, string? routeName)
    {
        if (routeName is not null)
        {
            if (node["name"] is { } n && n.GetValueKind() == JsonValueKind.String && n.GetValue<string>() != routeName)
            {
                throw new ValidationException("template", [new ValidationError("name", $"'{n.GetValue<string>()}' differs from the name in the URL ('{routeName}')")]);
            }
            node["name"] = routeName;
        }
        return Core.Templates.TemplateLoader.Parse(node.ToJsonString(), "template");
    }

    private static RouteHandlerBuilder With(this RouteHandlerBuilder b, string action, string? scope) =>
        b.WithMetadata(new ApiAction(action, scope)).WithName(action);

    private static string Tenant(HttpContext c) => ApiCall.Of(c).TenantOrThrow;

    private static string CheckName(string name, string field = "name") => TemplateValidator.IsValidName(name) ? name
        : throw new ValidationException("request", [new ValidationError(field, $"'{Truncate(name)}' must be 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit")]);

    private static string Truncate(string s) => s.Length > 80 ? s[..80] + "…" : s;

    private static string PathArg(HttpContext c) => c.Request.Query["path"] is { Count: > 0 } p && p.ToString().Length > 0 ? p.ToString()
        : throw new ValidationException("request", [new ValidationError("path", "query parameter 'path' is required")]);

    private static int ParseMode(string s) => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out _) && s.All(ch => ch is >= '0' and <= '7') && s.Length <= 4
        ? Convert.ToInt32(s, 8)
        : throw new ValidationException("request", [new ValidationError("mode", $"'{Truncate(s)}' is not an octal file mode such as 0644")]);

    private static ExecSpec ToSpec(ExecRequestBody b)
    {
        var errors = new List<ValidationError>();
        if (b.Argv is null || b.Argv.Count == 0 || b.Argv.Any(string.IsNullOrEmpty))
        {
            errors.Add(new("argv", "must be a non-empty list of non-empty strings"));
        }
        if (b.TimeoutMs is < 1 or > 86_400_000)
        {
            errors.Add(new("timeoutMs", "must be between 1 and 86400000"));
        }
        if (b.OutputLimit is < 1 or > 1L << 30)
        {
            errors.Add(new("outputLimit", "must be between 1 and 1073741824"));
        }
        if (errors.Count > 0)
        {
            throw new ValidationException("exec request", errors);
        }
        return new ExecSpec(b.Argv!, b.Env, b.Cwd, b.TimeoutMs is { } t ? TimeSpan.FromMilliseconds(t) : null, b.OutputLimit);
    }

    /// <summary>Runs an exec and answers it: streamed NDJSON frames (default), or one JSON object with
    /// <c>?stream=false</c>. The audit record is durable before the closing frame.</summary>
    private static async Task ExecAsync(HttpContext c, AuditLog audit, string? sandbox, byte[]? stdin,
        Func<ExecIo, CancellationToken, Task<ExecResult>> run, Func<string?>? sandboxName = null)
    {
        var call = ApiCall.Of(c);
        var ct = c.RequestAborted;
        var input = stdin is null ? null : new MemoryStream(stdin);
        if (c.Request.Query["stream"] == "false")
        {
            var stdout = new MemoryStream();
            var stderr = new MemoryStream();
            var r = await run(ExecIo.Capture(stdout, stderr, input), ct).ConfigureAwait(false);
            call.Outcome = Outcome(r);
            await Json(c, new ExecResponse(sandbox ?? sandboxName?.Invoke() ?? "", r, Encoding.UTF8.GetString(stdout.ToArray()), Encoding.UTF8.GetString(stderr.ToArray())),
                ControlJson.Default.ExecResponse).ConfigureAwait(false);
            return;
        }
        var body = call.RealBody!;
        var gate = new SemaphoreSlim(1, 1);
        async ValueTask Frame(ExecFrame f, CancellationToken token)
        {
            await gate.WaitAsync(token).ConfigureAwait(false);
            try
            {
                if (!call.Streamed)
                {
                    c.Response.StatusCode = 200;
                    c.Response.ContentType = "application/x-ndjson";
                    call.Streamed = true;
                }
                var bytes = JsonSerializer.SerializeToUtf8Bytes(f, ControlJson.Default.ExecFrame);
                await body.WriteAsync(bytes, token).ConfigureAwait(false);
                await body.WriteAsync("\n"u8.ToArray(), token).ConfigureAwait(false);
                await body.FlushAsync(token).ConfigureAwait(false);
            }
            finally
            {
                gate.Release();
            }
        }
        var io = new ExecIo(input,
            (b, t) => Frame(new ExecFrame { Stdout = b.ToArray() }, t),
            (b, t) => Frame(new ExecFrame { Stderr = b.ToArray() }, t));
        ExecResult result;
        try
        {
            result = await run(io, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (call.Streamed && e is not OperationCanceledException)
        {
            // Output already went out with status 200: the error travels in the closing frame.
            var p = Problems.From(e);
            call.Outcome = p.Code;
            var errSeq = await call.RecordAsync(audit).ConfigureAwait(false);
            await Frame(new ExecFrame { Error = p, AuditSeq = errSeq }, CancellationToken.None).ConfigureAwait(false);
            return;
        }
        call.Outcome = Outcome(result);
        var seq = await call.RecordAsync(audit).ConfigureAwait(false);
        if (!c.Response.HasStarted)
        {
            c.Response.Headers[AuditAuthMiddleware.SeqHeader] = seq.ToString(CultureInfo.InvariantCulture);
        }
        await Frame(new ExecFrame { Result = result, AuditSeq = seq, Sandbox = sandbox ?? sandboxName?.Invoke() }, CancellationToken.None).ConfigureAwait(false);
    }

    private static string Outcome(ExecResult r) => r.KilledReason is { } k ? $"exit:{r.ExitCode} killed:{k}" : $"exit:{r.ExitCode}";

    public static async Task Json<T>(HttpContext c, T value, JsonTypeInfo<T> info, int status = 200)
    {
        c.Response.StatusCode = status;
        c.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(c.Response.Body, value, info, c.RequestAborted).ConfigureAwait(false);
    }

    private static async Task<MemoryStream> ReadBodyAsync(HttpContext c, long limit)
    {
        if (c.Request.ContentLength > limit)
        {
            throw TooLarge(limit);
        }
        var buffer = new MemoryStream();
        var chunk = new byte[16 << 10];
        int n;
        while ((n = await c.Request.Body.ReadAsync(chunk, c.RequestAborted).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + n > limit)
            {
                throw TooLarge(limit);
            }
            buffer.Write(chunk, 0, n);
        }
        buffer.Position = 0;
        return buffer;
    }

    private static AirlockException TooLarge(long limit) => new(AirlockException.ErrorCodes.TooLarge,
        $"the request body is larger than {limit >> 20} MiB", "send less (files: split them; exec: pass large input as a file)");

    public static async Task<T> ReadJsonAsync<T>(HttpContext c, JsonTypeInfo<T> info, long limit)
    {
        if (c.Request.ContentType is { } ct && !ct.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            throw new AirlockException(AirlockException.ErrorCodes.InvalidRequest, $"Content-Type '{ct}' is not application/json", "send a JSON body with Content-Type: application/json");
        }
        using var body = await ReadBodyAsync(c, limit).ConfigureAwait(false);
        try
        {
            return JsonSerializer.Deserialize(body, info) ?? throw new JsonException("the body is null");
        }
        catch (JsonException e)
        {
            var where = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "body" : e.Path.TrimStart('$', '.');
            var reason = e.Message;
            if (reason.Contains("could not be mapped", StringComparison.Ordinal))
            {
                reason = "unknown field";
            }
            else if (e.InnerException is JsonException syntax)
            {
                var cut = syntax.Message.IndexOf(" LineNumber:", StringComparison.Ordinal);
                reason = "is not valid JSON: " + (cut > 0 ? syntax.Message[..cut] : syntax.Message);
            }
            else if (e.InnerException is { } inner)
            {
                reason = "has the wrong type or format (" + inner.Message + ")";
            }
            else
            {
                var cut = reason.IndexOf(" Path:", StringComparison.Ordinal);
                reason = cut > 0 ? reason[..cut] : reason;
            }
            throw new RequestBodyException([new ValidationError(where, reason)]);
        }
    }
}
