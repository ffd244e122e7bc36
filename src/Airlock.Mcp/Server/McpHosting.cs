using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.AspNetCore;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Airlock.Mcp.Server;

/// <summary>
/// Composition of Airlock's MCP server on the generic host: the tools and their runtime (<see
/// cref="AddAirlockMcpTools"/>), then a transport — stdio (<see cref="RunStdioAsync"/>) or streamable HTTP (<see
/// cref="AddAirlockMcpHttp"/> + <see cref="MapAirlockMcp"/>). Register an <see cref="IResultScreen"/> or <see
/// cref="IMcpAudit"/> before these calls to replace the pass-through defaults.
/// </summary>
public static class McpHosting
{
    public static Implementation ServerInfo { get; } = new()
    {
        Name = "airlock",
        Title = "Airlock sandboxes",
        Version = typeof(McpHosting).Assembly.GetName().Version?.ToString(3) ?? "0.0.0",
    };

    /// <summary>Instructions sent to clients at initialize: what the server is, in two sentences.</summary>
    public static string Instructions(McpServerConfig config) =>
        "Airlock runs code in isolated sandboxes with no network and no host files. "
        + $"Templates allowed here: {(config.AllowedTemplates.Count == 0 ? "none" : string.Join(", ", config.AllowedTemplates))}; "
        + $"sandboxes you create belong to this session and are destroyed when it ends or after {config.MaxLifetime.TotalMinutes:0} minutes.";

    /// <summary>Registers the configuration, sessions, runtime and (when not registered yet) the screening of
    /// results (<see cref="ScreeningResultScreen"/>) and a no-op audit.</summary>
    public static IServiceCollection AddAirlockMcpTools(this IServiceCollection services, McpServerConfig config)
    {
        services.AddSingleton(config);
        services.TryAddSingleton<McpSessions>();
        services.TryAddSingleton<IResultScreen>(new ScreeningResultScreen());
        services.TryAddSingleton<IMcpAudit>(NoMcpAudit.Instance);
        services.TryAddSingleton<AirlockMcpRuntime>();
        return services;
    }

    /// <summary>
    /// Serves the tools on stdin/stdout until the client closes stdin or <paramref name="ct"/> is cancelled, as the
    /// single session of <paramref name="caller"/>; then destroys every sandbox the session created. Logs go to
    /// stderr (stdout is the protocol).
    /// </summary>
    public static async Task RunStdioAsync(McpServerConfig config, McpCaller caller, CancellationToken ct, Action<IServiceCollection>? configure = null)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        configure?.Invoke(builder.Services);
        builder.Services.AddAirlockMcpTools(config);
        builder.Services.AddMcpServer(o =>
        {
            o.ServerInfo = ServerInfo;
            o.ServerInstructions = Instructions(config);
        }).WithStdioServerTransport().WithTools<AirlockTools>();
        using var host = builder.Build();
        var sessions = host.Services.GetRequiredService<McpSessions>();
        var id = "stdio-" + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        sessions.OpenSingle(id, caller);
        try
        {
            await host.RunAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            await sessions.CloseAllAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Streamable HTTP with one stateful session per client. <paramref name="callerOf"/> tells, for an
    /// authenticated request, who is calling and where its sandboxes run; the session is opened with the caller of
    /// its initialize request, and every later request must come from the same tenant. When the SDK ends the
    /// session (DELETE, <see cref="McpServerConfig.SessionIdleTimeout"/>, shutdown) its sandboxes are destroyed.
    /// </summary>
    public static IMcpServerBuilder AddAirlockMcpHttp(this IServiceCollection services, McpServerConfig config, Func<HttpContext, McpCaller> callerOf)
    {
        services.AddHttpContextAccessor();
        services.AddAirlockMcpTools(config);
        services.AddSingleton(sp =>
        {
            var rt = ActivatorUtilities.CreateInstance<AirlockMcpRuntime>(sp);
            var http = sp.GetRequiredService<IHttpContextAccessor>();
            rt.CurrentCaller = () => http.HttpContext is { } c ? callerOf(c) : null;
            rt.CurrentSessionId = () => http.HttpContext?.Request.Headers["Mcp-Session-Id"].ToString() is { Length: > 0 } id ? id : null;
            return rt;
        });
        return services.AddMcpServer(o =>
        {
            o.ServerInfo = ServerInfo;
            o.ServerInstructions = Instructions(config);
        }).WithHttpTransport(t =>
        {
            // Sandboxes belong to a session and die with it, so every client gets one: clients of the session-less
            // 2026-07-28 revision are answered -32022 and fall back to initialize (the SDK's dual-path behaviour).
            t.SessionMode = HttpServerSessionMode.Stateful;
#pragma warning disable MCP9006 // Sessions are obsolete upstream for new protocol revisions, but today's clients use them.
            t.IdleTimeout = config.SessionIdleTimeout;
#pragma warning restore MCP9006
#pragma warning disable MCPEXP002 // RunSessionHandler is the one hook that sees a session end, which is when its sandboxes must go.
            t.RunSessionHandler = async (ctx, server, ct) =>
            {
                if (server.SessionId is not { } id)
                {
                    await server.RunAsync(ct).ConfigureAwait(false);
                    return;
                }
                var sessions = ctx.RequestServices.GetRequiredService<McpSessions>();
                sessions.Open(id, callerOf(ctx));
                try
                {
                    await server.RunAsync(ct).ConfigureAwait(false);
                }
                finally
                {
                    await sessions.CloseAsync(id).ConfigureAwait(false);
                }
            };
#pragma warning restore MCPEXP002
        }).WithTools<AirlockTools>();
    }

    /// <summary>Maps the streamable HTTP endpoint (POST, GET and DELETE on <paramref name="pattern"/>).</summary>
    public static IEndpointConventionBuilder MapAirlockMcp(this IEndpointRouteBuilder endpoints, string pattern = "/mcp") => endpoints.MapMcp(pattern);
}
