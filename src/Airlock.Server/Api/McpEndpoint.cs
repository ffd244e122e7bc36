using System.Security.Claims;
using Airlock.ControlPlane.Audit;
using Airlock.ControlPlane.Lifecycle;
using Airlock.Mcp.Server;

namespace Airlock.Server.Api;

/// <summary>
/// <c>/mcp</c>: Airlock's sandbox tools over streamable HTTP, behind the same bearer tokens as the API (scope
/// <c>sandbox</c>; the tenant is the token's). <see cref="AuditAuthMiddleware"/> authenticates the request; the MCP
/// answer (often a server-sent event stream) then goes straight to the client instead of being buffered, each HTTP
/// request is recorded as <c>mcp.http</c> when it ends, and each tool call is recorded by the tools themselves as
/// <c>mcp.TOOL</c> before its result is sent.
/// </summary>
public static class McpEndpoint
{
    public static void AddServices(IServiceCollection services, McpServerConfig config, SandboxController controller, AuditLog audit)
    {
        services.AddSingleton<IMcpAudit>(new AuditLogMcpAudit(audit));
        services.AddAirlockMcpHttp(config, ctx =>
        {
            var call = ApiCall.Of(ctx);
            return new McpCaller(call.TenantOrThrow, call.TokenId, new ControllerSandboxHost(controller, call.TenantOrThrow));
        });
    }

    public static void Map(WebApplication app, AuditLog audit)
    {
        app.MapAirlockMcp("/mcp").WithMetadata(new ApiAction("mcp.http", "sandbox")).Add(e =>
        {
            var inner = e.RequestDelegate!;
            e.RequestDelegate = async ctx =>
            {
                var call = ApiCall.Of(ctx);
                // The SDK binds a session to the user of its initialize request: make that the token's tenant, so a
                // session id alone does not let another tenant in.
                ctx.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, call.TenantOrThrow)], "airlock-token"));
                call.Streamed = true;
                ctx.Response.Body = call.RealBody!;
                try
                {
                    await inner(ctx).ConfigureAwait(false);
                    if (ctx.Response.StatusCode >= 400)
                    {
                        call.Outcome = "http-" + ctx.Response.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    }
                }
                finally
                {
                    call.Detail = $"{ctx.Request.Method} session={(ctx.Response.Headers["Mcp-Session-Id"].ToString() is { Length: > 0 } s ? s : ctx.Request.Headers["Mcp-Session-Id"].ToString())}";
                    if (!ctx.RequestAborted.IsCancellationRequested)
                    {
                        await call.RecordAsync(audit).ConfigureAwait(false);
                    }
                }
            };
        });
    }
}
