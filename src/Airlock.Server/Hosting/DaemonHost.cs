using System.Net;
using Airlock.Backends.Oci;
using Airlock.Backends.V8;
using Airlock.Backends.Wasm;
using Airlock.ControlPlane.Audit;
using Airlock.ControlPlane.Auth;
using Airlock.ControlPlane.Lifecycle;
using Airlock.ControlPlane.Store;
using Airlock.ControlPlane.Telemetry;
using Airlock.Core;
using Airlock.Core.Backends;
using Airlock.Core.Storage;
using Airlock.Egress.Gateway;
using Airlock.Server.Api;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Airlock.Server.Hosting;

/// <param name="Mcp">What MCP clients of <c>/mcp</c> may use; null: no template (every sandbox tool is refused).</param>
public sealed record DaemonOptions(string DataDir, IReadOnlyList<string> Listen, string? OtlpEndpoint, TimeSpan ReconcileInterval, int MaxConcurrentCreates = 8,
    Airlock.Mcp.Server.McpServerConfig? Mcp = null);

/// <summary>
/// <c>airlock serve</c>: the control plane on ASP.NET Core. Listens on a Unix socket (default
/// <c>DATA_DIR/airlock.sock</c>) and optionally on loopback TCP; only one daemon may own a data directory.
/// </summary>
public static class DaemonHost
{
    public static async Task<int> RunAsync(DaemonOptions o, CancellationToken ct)
    {
        var dataDir = Path.GetFullPath(o.DataDir);
        var endpoints = ParseListen(o.Listen, dataDir);
        Directory.CreateDirectory(dataDir);
        // One daemon per data directory: an exclusive lock held for the daemon's life (flock, released on death).
        await using var lockFile = TakeLock(dataDir);
        foreach (var ep in endpoints.Where(e => e.Socket is not null && File.Exists(e.Socket)))
        {
            // A stale socket of a killed daemon, unless something still answers on it.
            using (var probe = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified))
            {
                try
                {
                    probe.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(ep.Socket!));
                    throw Bad(ep.Display, "is in use by another process");
                }
                catch (System.Net.Sockets.SocketException)
                {
                }
            }
            File.Delete(ep.Socket!);
        }

        // Downloads spooled by a daemon that was killed mid-answer.
        if (Directory.Exists(Path.Combine(dataDir, "spool")))
        {
            Directory.Delete(Path.Combine(dataDir, "spool"), recursive: true);
        }
        var store = new ControlStore(dataDir);
        var audit = new AuditLog(store);
        var stateDir = Path.Combine(dataDir, "state");
        StateFs.Ensure(stateDir, 256L << 20);
        var records = new SandboxStore(new AirlockPaths(stateDir));
        SandboxController? owner = null;
        var oci = new OciBackend(records, new OciOptions(Egress: new EgressGateway(new EgressGatewayOptions
        {
            Audit = e => EgressAudit.Append(audit, owner?.OwnerOf(e.Sandbox), e),
            UpstreamTrustedRoots = EgressGatewayOptions.TrustedRootsFromEnvironment(),
        })));
        // Remote clients load wasm modules only from their sandbox's workspace, never by host path.
        // The v8 class keeps pre-started, jailed workers, so a JS execution through the daemon is a message.
        using var v8 = new V8Backend(new AirlockPaths(stateDir));
        var backend = new BackendSet(oci, new WasmBackend(new AirlockPaths(stateDir), new WasmOptions { AllowHostModules = false }), v8);
        var controller = owner = new SandboxController(store, audit, backend, records, TimeProvider.System,
            new ControllerOptions { ReconcileInterval = o.ReconcileInterval, MaxConcurrentCreates = o.MaxConcurrentCreates });

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(c => c.SingleLine = true);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = Endpoints.FileLimit + (1 << 20);
            k.Limits.MaxRequestHeadersTotalSize = 32 << 10;
            k.AddServerHeader = false;
            foreach (var ep in endpoints)
            {
                if (ep.Socket is { } path)
                {
                    k.ListenUnixSocket(path);
                }
                else
                {
                    k.Listen(ep.Tcp!);
                }
            }
        });
        builder.Services.AddSingleton(store);
        builder.Services.AddSingleton(audit);
        builder.Services.AddSingleton(controller);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(sp => new TokenService(store, TimeProvider.System));
        builder.Services.AddOpenApi();
        McpEndpoint.AddServices(builder.Services, o.Mcp ?? new Airlock.Mcp.Server.McpServerConfig(), controller, audit);
        var otlp = o.OtlpEndpoint ?? Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT");
        if (!string.IsNullOrEmpty(otlp))
        {
            var endpoint = new Uri(otlp);
            builder.Services.AddOpenTelemetry()
                .ConfigureResource(r => r.AddService("airlock"))
                .WithTracing(t => t.AddSource(AirlockTelemetry.Name).AddAspNetCoreInstrumentation()
                    .AddOtlpExporter(e => { e.Endpoint = new Uri(endpoint, "v1/traces"); e.Protocol = OpenTelemetry.Exporter.OtlpExportProtocol.HttpProtobuf; }))
                .WithMetrics(m => m.AddMeter(AirlockTelemetry.Name)
                    .AddOtlpExporter((e, r) =>
                    {
                        e.Endpoint = new Uri(endpoint, "v1/metrics");
                        e.Protocol = OpenTelemetry.Exporter.OtlpExportProtocol.HttpProtobuf;
                        r.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = 5000;
                    }));
        }

        var app = builder.Build();
        app.UseRouting();
        app.UseMiddleware<AuditAuthMiddleware>();
        app.MapOpenApi("/openapi.json").WithMetadata(new ApiAction("api.openapi", null));
        Endpoints.Map(app);
        McpEndpoint.Map(app, audit);

        var report = await controller.StartAsync(ct).ConfigureAwait(false);
        await app.StartAsync(ct).ConfigureAwait(false);
        _ = Task.Run(async () =>
        {
            try
            {
                await v8.WarmUpAsync("js", ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Console.Error.WriteLine($"airlock: the v8 class's JavaScript workers did not start: {e.Message}");
            }
        }, CancellationToken.None);
        foreach (var ep in endpoints.Where(e => e.Socket is not null))
        {
            // Tokens guard every call; the socket itself is for root and the daemon's group only.
            File.SetUnixFileMode(ep.Socket!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
        }
        Console.Error.WriteLine($"airlock: serving {string.Join(", ", endpoints.Select(e => e.Display))} (data {dataDir}; adopted {report.Adopted}, lost {report.Lost}, reaped {report.Reaped.Count})");
        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var reg = ct.Register(() => stop.TrySetResult());
        await stop.Task.ConfigureAwait(false);
        Console.Error.WriteLine("airlock: stopping; sandboxes keep running and are adopted by the next start");
        await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await controller.DisposeAsync().ConfigureAwait(false);
        await audit.DisposeAsync().ConfigureAwait(false);
        store.Dispose();
        // With no sandbox left, nothing needs the state tmpfs until the next start.
        StateFs.ReleaseIfEmpty(stateDir);
        foreach (var ep in endpoints.Where(e => e.Socket is not null))
        {
            File.Delete(ep.Socket!);
        }
        return 0;
    }

    private static FileStream TakeLock(string dataDir)
    {
        try
        {
            return new FileStream(Path.Combine(dataDir, "daemon.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            throw new AirlockException(AirlockException.ErrorCodes.Conflict, $"another airlock daemon is serving {dataDir}",
                "stop it first, or give another --data-dir");
        }
    }

    private sealed record Listen(string Display, string? Socket, IPEndPoint? Tcp);

    private static List<Listen> ParseListen(IReadOnlyList<string> specs, string dataDir)
    {
        var list = new List<Listen>();
        foreach (var spec in specs.Count == 0 ? ["unix:" + Path.Combine(dataDir, "airlock.sock")] : specs)
        {
            if (spec.StartsWith("unix:", StringComparison.Ordinal))
            {
                var path = Path.GetFullPath(spec[5..]);
                if (System.Text.Encoding.UTF8.GetByteCount(path) > 107)
                {
                    throw Bad(spec, "is longer than a Unix socket path may be (107 bytes)");
                }
                if (Directory.Exists(path))
                {
                    throw Bad(spec, "is a directory");
                }
                list.Add(new Listen("unix:" + path, path, null));
            }
            else if (Uri.TryCreate(spec, UriKind.Absolute, out var uri) && uri.Scheme == "http" && uri.AbsolutePath == "/")
            {
                var host = uri.Host.Trim('[', ']');
                var ip = host == "localhost" ? IPAddress.Loopback : IPAddress.TryParse(host, out var a) ? a : null;
                if (ip is null || !IPAddress.IsLoopback(ip))
                {
                    throw Bad(spec, "must be a loopback address (127.0.0.1 or [::1]): the API is not for the network");
                }
                list.Add(new Listen(spec, null, new IPEndPoint(ip, uri.Port)));
            }
            else
            {
                throw Bad(spec, "is neither unix:PATH nor http://127.0.0.1:PORT");
            }
        }
        return list;
    }

    private static AirlockException Bad(string spec, string why) =>
        new(AirlockException.ErrorCodes.InvalidArgument, $"--listen '{spec}' {why}", "write --listen unix:/run/airlock.sock or --listen http://127.0.0.1:7070");
}
