using System.Globalization;
using Airlock.ControlPlane.Audit;
using Airlock.ControlPlane.Auth;
using Airlock.Core;

namespace Airlock.Server.Api;

/// <summary>What an endpoint is called in the audit log and which token scope it needs (null: any valid token).</summary>
public sealed record ApiAction(string Action, string? Scope);

/// <summary>
/// Authenticates every request but <c>/healthz</c> (bearer token → tenant), checks the endpoint's scope, turns
/// errors into problem+json, and appends the call's audit record durably before the answer leaves: non-streaming
/// answers are buffered until then, streaming ones (exec, run) append before their closing line.
/// </summary>
public sealed class AuditAuthMiddleware(RequestDelegate next, TokenService tokens, AuditLog audit)
{
    public const string SeqHeader = "Airlock-Audit-Seq";

    public async Task InvokeAsync(HttpContext ctx)
    {
        if (ctx.Request.Path == "/healthz")
        {
            await next(ctx).ConfigureAwait(false);
            return;
        }
        var meta = ctx.GetEndpoint()?.Metadata.GetMetadata<ApiAction>();
        var call = new ApiCall
        {
            Action = meta?.Action ?? "http." + ctx.Request.Method.ToLowerInvariant(),
            Target = ctx.Request.RouteValues.TryGetValue("name", out var n) && n is string name ? name : ctx.Request.Path.Value ?? "",
        };
        ctx.Items[typeof(ApiCall)] = call;
        var real = ctx.Response.Body;
        call.RealBody = real;
        using var buffer = new MemoryStream();
        ctx.Response.Body = buffer;
        try
        {
            var header = ctx.Request.Headers.Authorization.ToString();
            var token = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : null;
            var (info, rule) = tokens.Validate(token);
            if (info is null)
            {
                call.Decision = "denied";
                call.Rule = rule;
                ctx.Response.Headers.WWWAuthenticate = "Bearer";
                throw new AirlockException(AirlockException.ErrorCodes.Unauthorized,
                    rule switch
                    {
                        "token:missing" => "this endpoint needs a bearer token",
                        "token:expired" => "the token has expired",
                        "token:revoked" => "the token was revoked",
                        _ => "the token is not valid",
                    },
                    "create one with: airlock token create --data-dir DIR --tenant NAME, and send it as Authorization: Bearer TOKEN");
            }
            call.Tenant = info.Tenant;
            call.TokenId = info.Id;
            call.Token = info;
            if (meta?.Scope is { } scope)
            {
                call.Rule = "scope:" + scope;
                if (!info.Scopes.Contains(scope))
                {
                    call.Decision = "denied";
                    throw new AirlockException(AirlockException.ErrorCodes.Forbidden, $"this token lacks the '{scope}' scope",
                        $"create a token with --scope {scope}");
                }
            }
            await next(ctx).ConfigureAwait(false);
            if (!call.Streamed && buffer.Length == 0 && ctx.Response.StatusCode is 404 or 405)
            {
                throw new AirlockException(AirlockException.ErrorCodes.NotFound,
                    $"no endpoint {ctx.Request.Method} {ctx.Request.Path}", "see the API at GET /openapi.json");
            }
            if (!call.Streamed && buffer.Length == 0 && ctx.Response.StatusCode == 415)
            {
                // Routing refused the Content-Type before the endpoint ran.
                throw new AirlockException(AirlockException.ErrorCodes.InvalidRequest,
                    $"Content-Type '{ctx.Request.ContentType}' is not application/json", "send a JSON body with Content-Type: application/json");
            }
        }
        catch (Exception e) when (call.Streamed || ctx.RequestAborted.IsCancellationRequested)
        {
            // The answer can no longer be a problem document (output already went out, or the client left): the
            // call is still recorded, with what became of it.
            if (call.Seq is null)
            {
                call.Outcome = ctx.RequestAborted.IsCancellationRequested ? "client-gone" : Problems.From(e).Code;
                call.Detail += (call.Detail.Length > 0 ? "; " : "") + e.Message;
                await call.RecordAsync(audit).ConfigureAwait(false);
            }
            ctx.Response.Body = real;
            if (!ctx.RequestAborted.IsCancellationRequested)
            {
                throw;
            }
            return;
        }
        catch (Exception e) when (!call.Streamed && !ctx.RequestAborted.IsCancellationRequested)
        {
            var p = Problems.From(e);
            call.Outcome = p.Code;
            if (call.Detail.Length == 0)
            {
                call.Detail = p.Detail ?? "";
            }
            buffer.SetLength(0);
            await Problems.WriteAsync(ctx, p, buffer).ConfigureAwait(false);
        }
        finally
        {
            ctx.Response.Body = real;
        }
        if (call.Streamed)
        {
            return;
        }
        if (call.Outcome == "ok" && ctx.Response.StatusCode >= 400)
        {
            call.Outcome = "http-" + ctx.Response.StatusCode.ToString(CultureInfo.InvariantCulture);
        }
        var seq = await call.RecordAsync(audit).ConfigureAwait(false);
        ctx.Response.Headers[SeqHeader] = seq.ToString(CultureInfo.InvariantCulture);
        ctx.Response.ContentLength = buffer.Length;
        buffer.Position = 0;
        await buffer.CopyToAsync(real, ctx.RequestAborted).ConfigureAwait(false);
    }
}
