using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.AspNetCore;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Airlock.Mcp.Gateway;

/// <summary>The gateway as an MCP server, on its own generic host (the SDK serves one MCP server per container):
/// stdio, or streamable HTTP on loopback with a bearer token.</summary>
public static class GatewayHosting
{
    public static string Version { get; } = typeof(GatewayHosting).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    public static Implementation ServerInfo { get; } = new() { Name = "airlock-gateway", Title = "Airlock MCP gateway", Version = Version };

    private const string Instructions =
        "Airlock gateway: tools of several MCP servers, each run in its own sandbox, named SERVER__TOOL. "
        + "Only tools the operator approved are listed; gateway__status says what is withheld and why.";

    /// <summary>The list and call handlers, and list_changed fan-out to every session that has talked to us.</summary>
    public static IMcpServerBuilder AddGateway(this IServiceCollection services, McpGateway gateway)
    {
        var sessions = new SessionSet();
        gateway.ToolsChanged += sessions.NotifyToolsChangedAsync;
        return services.AddMcpServer(o =>
        {
            o.ServerInfo = ServerInfo;
            o.ServerInstructions = Instructions;
            o.Capabilities = new ServerCapabilities { Tools = new ToolsCapability { ListChanged = true } };
        }).WithListToolsHandler(async (ctx, ct) =>
        {
            sessions.Add(ctx.Server);
            return new ListToolsResult { Tools = [.. await gateway.ListToolsAsync(ct).ConfigureAwait(false)] };
        }).WithCallToolHandler(async (ctx, ct) =>
        {
            sessions.Add(ctx.Server);
            var p = ctx.Params ?? throw new ModelContextProtocol.McpException("tools/call needs params");
            return await gateway.CallToolAsync(p.Name, p.Arguments, ct).ConfigureAwait(false);
        });
    }

    public static async Task RunStdioAsync(McpGateway gateway, CancellationToken ct)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddGateway(gateway).WithStdioServerTransport();
        using var host = builder.Build();
        await host.RunAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Streamable HTTP at <c>http://ENDPOINT/mcp</c>; every request must carry <c>Authorization: Bearer
    /// TOKEN</c> (compared in constant time). Loopback addresses only.</summary>
    public static async Task RunHttpAsync(McpGateway gateway, IPEndPoint endpoint, string token, Action<string>? onListening, CancellationToken ct)
    {
        if (!IPAddress.IsLoopback(endpoint.Address))
        {
            throw new Core.AirlockException(Core.AirlockException.ErrorCodes.InvalidArgument, $"--http {endpoint}: the gateway listens on loopback only",
                "use 127.0.0.1:PORT or [::1]:PORT");
        }
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k => k.Listen(endpoint));
        builder.Services.AddGateway(gateway).WithHttpTransport(t =>
        {
#pragma warning disable MCP9006 // Sessions are obsolete upstream for new protocol revisions, but today's clients use them.
            t.IdleTimeout = TimeSpan.FromMinutes(30);
#pragma warning restore MCP9006
        });
        await using var app = builder.Build();
        var expected = SHA256.HashData(Encoding.UTF8.GetBytes(token));
        app.Use(async (ctx, next) =>
        {
            var header = ctx.Request.Headers.Authorization.ToString();
            var given = header.StartsWith("Bearer ", StringComparison.Ordinal) ? header[7..].Trim() : "";
            if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), expected))
            {
                ctx.Response.StatusCode = StatusCodes.Status401Unauthorized;
                ctx.Response.Headers.WWWAuthenticate = "Bearer";
                await ctx.Response.WriteAsync("""{"error":{"code":"unauthorized","message":"a valid bearer token is required"}}""", ct).ConfigureAwait(false);
                return;
            }
            await next(ctx).ConfigureAwait(false);
        });
        app.MapMcp("/mcp");
        await app.StartAsync(ct).ConfigureAwait(false);
        onListening?.Invoke($"http://{endpoint}/mcp");
        try
        {
            await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>Sessions to tell about list changes; a session that cannot be told any more is dropped.</summary>
    private sealed class SessionSet
    {
        private readonly HashSet<McpServer> _servers = [];

        public void Add(McpServer server)
        {
            lock (_servers)
            {
                _servers.Add(server);
            }
        }

        public async Task NotifyToolsChangedAsync()
        {
            List<McpServer> all;
            lock (_servers)
            {
                all = [.. _servers];
            }
            foreach (var s in all)
            {
                try
                {
                    await s.SendNotificationAsync(NotificationMethods.ToolListChangedNotification, CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    lock (_servers)
                    {
                        _servers.Remove(s);
                    }
                }
            }
        }
    }
}
