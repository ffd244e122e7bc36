using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Airlock.Core.Model;
using Airlock.Egress.Policy;
using Airlock.Egress.Proxy;

// Egress proxy overhead on loopback, side by side in one process: a small GET (latency, p50/p99 over N requests,
// a new connection each, as a sandbox's tools mostly make them) and a large download (throughput), direct to a
// local upstream and through the proxy (HTTP forward, with a pin for the name). Nothing leaves 127.0.0.1.
var n = int.Parse(Environment.GetEnvironmentVariable("REQUESTS") ?? "500", CultureInfo.InvariantCulture);
var mb = int.Parse(Environment.GetEnvironmentVariable("MB") ?? "256", CultureInfo.InvariantCulture);
using var stop = new CancellationTokenSource();
var upstream = Listen(stop.Token, async s =>
{
    var head = new StringBuilder();
    var b = new byte[1];
    while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && await s.ReadAsync(b) == 1)
    {
        head.Append((char)b[0]);
    }
    var path = head.ToString().Split(' ')[1];
    long size = path.StartsWith("/bytes/", StringComparison.Ordinal) ? long.Parse(path[7..], CultureInfo.InvariantCulture) : 2;
    await s.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"));
    var chunk = new byte[64 << 10];
    for (long sent = 0; sent < size; sent += chunk.Length)
    {
        await s.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, size - sent)));
    }
});
var proxy = new EgressProxy(new PolicyEngine(new EgressPolicy { Pins = [new EgressPin("api.bench.test", upstream, "127.0.0.1")], MaxConnections = 1024 },
    new MapResolver(new Dictionary<string, IPAddress[]>())));
var proxyListener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
proxyListener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
proxyListener.Listen(1024);
_ = proxy.ServeAsync(proxyListener, stop.Token);
var proxyPort = ((IPEndPoint)proxyListener.LocalEndPoint!).Port;

HttpClient Client(bool viaProxy) => new(new SocketsHttpHandler
{
    UseProxy = viaProxy,
    Proxy = viaProxy ? new WebProxy($"http://127.0.0.1:{proxyPort}") : null,
    PooledConnectionLifetime = TimeSpan.Zero,
});
using var direct = Client(false);
using var proxied = Client(true);
var directUrl = $"http://127.0.0.1:{upstream}";
var proxyUrl = $"http://api.bench.test:{upstream}";

async Task<List<double>> Latency(HttpClient c, string baseUrl)
{
    var xs = new List<double>();
    for (var i = 0; i < n + 20; i++)
    {
        var sw = Stopwatch.StartNew();
        await c.GetStringAsync(baseUrl + "/");
        if (i >= 20)
        {
            xs.Add(sw.Elapsed.TotalMilliseconds);
        }
    }
    return xs;
}

async Task<double> Throughput(HttpClient c, string baseUrl)
{
    var sw = Stopwatch.StartNew();
    await using var s = await c.GetStreamAsync($"{baseUrl}/bytes/{(long)mb << 20}");
    var buf = new byte[256 << 10];
    long total = 0;
    int r;
    while ((r = await s.ReadAsync(buf)) > 0)
    {
        total += r;
    }
    return total / sw.Elapsed.TotalSeconds / (1 << 20);
}

static double P(List<double> xs, double p) => xs.Order().ElementAt(Math.Clamp((int)Math.Ceiling(p / 100 * xs.Count) - 1, 0, xs.Count - 1));

// Interleaved, so both see the same machine.
var ld = new List<double>();
var lp = new List<double>();
for (var round = 0; round < 4; round++)
{
    ld.AddRange(await Latency(direct, directUrl));
    lp.AddRange(await Latency(proxied, proxyUrl));
}
var td = new List<double>();
var tp = new List<double>();
for (var round = 0; round < 3; round++)
{
    td.Add(await Throughput(direct, directUrl));
    tp.Add(await Throughput(proxied, proxyUrl));
}
Console.WriteLine("| case | direct | through the proxy | ratio / added |");
Console.WriteLine("|---|---|---|---|");
Console.WriteLine($"| small GET, new connection each, p50 ms ({ld.Count} each) | {P(ld, 50):0.000} | {P(lp, 50):0.000} | +{P(lp, 50) - P(ld, 50):0.000} ms |");
Console.WriteLine($"| small GET, p99 ms | {P(ld, 99):0.000} | {P(lp, 99):0.000} | +{P(lp, 99) - P(ld, 99):0.000} ms |");
Console.WriteLine($"| {mb} MiB download, MiB/s (median of 3) | {td.Order().ElementAt(1):0} | {tp.Order().ElementAt(1):0} | {tp.Order().ElementAt(1) / td.Order().ElementAt(1):0.00}× |");
await stop.CancelAsync();

static int Listen(CancellationToken ct, Func<NetworkStream, Task> serve)
{
    var l = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    l.Bind(new IPEndPoint(IPAddress.Loopback, 0));
    l.Listen(1024);
    _ = Task.Run(async () =>
    {
        while (!ct.IsCancellationRequested)
        {
            var c = await l.AcceptAsync(ct);
            c.NoDelay = true;
            _ = Task.Run(async () =>
            {
                await using var s = new NetworkStream(c, ownsSocket: true);
                try
                {
                    await serve(s);
                }
                catch (IOException)
                {
                }
            });
        }
    }, ct);
    return ((IPEndPoint)l.LocalEndPoint!).Port;
}
