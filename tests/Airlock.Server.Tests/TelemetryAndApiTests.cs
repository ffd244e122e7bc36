using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Airlock.Core.Control;

namespace Airlock.Server.Tests;

/// <summary>A minimal OTLP/HTTP receiver on loopback: records every request and answers 200 with an empty body.</summary>
internal sealed class OtlpReceiver : IDisposable
{
    public sealed record Request(string Method, string Path, string? ContentType, byte[] Body);

    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Request> _requests = [];
    private readonly Task _accept;

    public int Port { get; }

    public OtlpReceiver(int port = 0)
    {
        _listener = new TcpListener(IPAddress.Loopback, port);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accept = Task.Run(AcceptAsync);
    }

    public IReadOnlyList<Request> Requests
    {
        get
        {
            lock (_requests)
            {
                return _requests.ToList();
            }
        }
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        try
        {
            var s = client.GetStream();
            while (await ReadRequestAsync(s).ConfigureAwait(false) is { } req)
            {
                lock (_requests)
                {
                    _requests.Add(req);
                }
                await s.WriteAsync("HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"u8.ToArray(), _stop.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or SocketException or FormatException)
        {
        }
    }

    private async Task<Request?> ReadRequestAsync(NetworkStream s)
    {
        var head = new List<byte>();
        while (head.Count < 4 || head[^4] != '\r' || head[^3] != '\n' || head[^2] != '\r' || head[^1] != '\n')
        {
            var b = await ReadByteAsync(s).ConfigureAwait(false);
            if (b < 0)
            {
                return null;
            }
            head.Add((byte)b);
        }
        var lines = Encoding.ASCII.GetString(head.ToArray()).Split("\r\n");
        var start = lines[0].Split(' ');
        var headers = lines.Skip(1).Where(l => l.Contains(':')).ToDictionary(l => l[..l.IndexOf(':')].Trim().ToLowerInvariant(), l => l[(l.IndexOf(':') + 1)..].Trim());
        byte[] body;
        if (headers.TryGetValue("content-length", out var len))
        {
            body = new byte[int.Parse(len, System.Globalization.CultureInfo.InvariantCulture)];
            await s.ReadExactlyAsync(body, _stop.Token).ConfigureAwait(false);
        }
        else if (headers.TryGetValue("transfer-encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            var ms = new MemoryStream();
            while (true)
            {
                var sizeLine = await ReadLineAsync(s).ConfigureAwait(false);
                var size = Convert.ToInt32(sizeLine.Split(';')[0].Trim(), 16);
                if (size == 0)
                {
                    while ((await ReadLineAsync(s).ConfigureAwait(false)).Length > 0)
                    {
                    }
                    break;
                }
                var chunk = new byte[size];
                await s.ReadExactlyAsync(chunk, _stop.Token).ConfigureAwait(false);
                ms.Write(chunk);
                await ReadLineAsync(s).ConfigureAwait(false);
            }
            body = ms.ToArray();
        }
        else
        {
            body = [];
        }
        return new Request(start[0], start.Length > 1 ? start[1] : "", headers.GetValueOrDefault("content-type"), body);
    }

    private async Task<int> ReadByteAsync(NetworkStream s)
    {
        var one = new byte[1];
        return await s.ReadAsync(one, _stop.Token).ConfigureAwait(false) == 0 ? -1 : one[0];
    }

    private async Task<string> ReadLineAsync(NetworkStream s)
    {
        var sb = new StringBuilder();
        int b;
        while ((b = await ReadByteAsync(s).ConfigureAwait(false)) >= 0 && b != '\n')
        {
            if (b != '\r')
            {
                sb.Append((char)b);
            }
        }
        return sb.ToString();
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        try
        {
            _accept.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
        _listener.Dispose();
        _stop.Dispose();
    }
}

/// <summary>The OpenAPI document, and OpenTelemetry export only when asked for.</summary>
public sealed class TelemetryAndApiTests
{
    [Fact]
    public async Task OpenApiDescribesTheApi()
    {
        await using var d = await Daemon.StartAsync();
        var token = await d.TokenAsync("acme");
        using var http = ApiProbe.Http(d, token);
        using var r = await http.GetAsync("openapi.json");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("application/json", r.Content.Headers.ContentType?.MediaType);
        using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        Assert.StartsWith("3.", doc.RootElement.GetProperty("openapi").GetString(), StringComparison.Ordinal);
        var paths = doc.RootElement.GetProperty("paths");
        var expected = new (string Path, string Method, string OperationId)[]
        {
            ("/v1/sandboxes", "get", "sandbox.list"),
            ("/v1/sandboxes", "post", "sandbox.create"),
            ("/v1/sandboxes/{name}", "get", "sandbox.get"),
            ("/v1/sandboxes/{name}", "patch", "sandbox.patch"),
            ("/v1/sandboxes/{name}", "delete", "sandbox.delete"),
            ("/v1/sandboxes/{name}/exec", "post", "sandbox.exec"),
            ("/v1/sandboxes/{name}/files", "put", "file.write"),
            ("/v1/claims", "get", "claim.list"),
            ("/v1/claims", "post", "claim.create"),
            ("/v1/claims/{name}", "delete", "claim.delete"),
            ("/v1/pools", "get", "pool.list"),
            ("/v1/pools/{name}", "put", "pool.apply"),
            ("/v1/templates/{name}", "put", "template.apply"),
            ("/v1/run", "post", "sandbox.run"),
            ("/v1/events", "get", "audit.events"),
        };
        foreach (var (path, method, op) in expected)
        {
            Assert.True(paths.TryGetProperty(path, out var item), $"paths has no {path}: {string.Join(", ", paths.EnumerateObject().Select(p => p.Name))}");
            Assert.True(item.TryGetProperty(method, out var operation), $"{path} has no {method}");
            Assert.Equal(op, operation.GetProperty("operationId").GetString());
        }
        // Request bodies are described as JSON of the right schema.
        var create = paths.GetProperty("/v1/sandboxes").GetProperty("post");
        Assert.True(create.GetProperty("requestBody").GetProperty("content").TryGetProperty("application/json", out _));
        Assert.True(doc.RootElement.GetProperty("components").GetProperty("schemas").TryGetProperty("CreateSandboxRequest", out _));
        Assert.Equal("api.openapi", ApiProbe.Record(d, ApiProbe.Seq(r)).Action);
    }

    [Fact]
    public async Task WithAnOtlpEndpointTracesAndMetricsAreExported()
    {
        using var otlp = new OtlpReceiver();
        await using var d = await Daemon.StartAsync(null, "--otlp-endpoint", $"http://127.0.0.1:{otlp.Port}/");
        using var c = await d.TenantAsync("acme");
        await c.CreateSandboxAsync("s1", new SandboxSpec { SandboxTemplateRef = new NameRef("shell") });
        Assert.Equal("hi\n", (await ApiProbe.ExecAsync(c, "s1", "echo", "hi")).Out);
        await c.DeleteSandboxAsync("s1");

        static bool Has(OtlpReceiver.Request r, string text) => r.Body.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text)) >= 0;
        await Daemon.EventuallyAsync(() => Task.FromResult(otlp.Requests.Any(r => r.Path == "/v1/traces")), "a POST to /v1/traces");
        await Daemon.EventuallyAsync(() => Task.FromResult(otlp.Requests.Any(r => r.Path == "/v1/metrics")), "a POST to /v1/metrics");
        var all = otlp.Requests;
        Assert.All(all, r =>
        {
            Assert.Equal("POST", r.Method);
            Assert.Contains(r.Path, new[] { "/v1/traces", "/v1/metrics" });
            Assert.Equal("application/x-protobuf", r.ContentType);
            Assert.NotEmpty(r.Body);
        });
        // Protobuf carries strings as UTF-8: the controller's spans and the service name are in the export.
        await Daemon.EventuallyAsync(() => Task.FromResult(otlp.Requests.Where(r => r.Path == "/v1/traces").Any(r => Has(r, "sandbox.create"))),
            "the sandbox.create span to be exported");
        var traces = otlp.Requests.Where(r => r.Path == "/v1/traces").ToList();
        Assert.Contains(traces, r => Has(r, "sandbox.exec"));
        Assert.Contains(traces, r => Has(r, "airlock"));
        await Daemon.EventuallyAsync(() => Task.FromResult(otlp.Requests.Where(r => r.Path == "/v1/metrics").Any(r => Has(r, "airlock.sandboxes.created"))),
            "the airlock.sandboxes.created metric to be exported");
        Assert.Contains(otlp.Requests.Where(r => r.Path == "/v1/metrics"), r => Has(r, "airlock.exec.duration"));
    }

    [Fact]
    public async Task WithoutAnOtlpEndpointNothingIsExported()
    {
        // The daemon also honours OTEL_EXPORTER_OTLP_ENDPOINT; this run must not inherit one.
        Assert.Null(Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT"));
        // Listen on the OTLP/HTTP default port when it is free, where an exporter left on by default would send.
        OtlpReceiver otlp;
        try
        {
            otlp = new OtlpReceiver(4318);
        }
        catch (SocketException)
        {
            otlp = new OtlpReceiver();
        }
        using (otlp)
        {
            await using var d = await Daemon.StartAsync();
            using var c = await d.TenantAsync("acme");
            await c.CreateSandboxAsync("s1", new SandboxSpec { SandboxTemplateRef = new NameRef("shell") });
            Assert.Equal(0, (await ApiProbe.ExecAsync(c, "s1", "true")).Exit);
            await c.DeleteSandboxAsync("s1");
            // Both exporters flush every 5 s when on; wait past that.
            await Task.Delay(TimeSpan.FromSeconds(7));
            Assert.Empty(otlp.Requests);
        }
    }
}
