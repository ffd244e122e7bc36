using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using Airlock.Core;
using Airlock.Core.Backends;
using Airlock.Core.Control;
using Airlock.Core.Model;
using Airlock.Guest.Protocol;

namespace Airlock.Client;

/// <summary>An error answered by the daemon (problem+json), with its stable code, status and offending fields.</summary>
public sealed class AirlockApiException(Problem problem)
    : AirlockException(problem.Code, problem.Detail ?? problem.Title, problem.Remedy)
{
    public Problem Problem { get; } = problem;
    public int Status => Problem.Status;
}

/// <summary>
/// .NET client of the Airlock daemon's HTTP API, over a Unix socket (<c>unix:/path</c>) or loopback TCP
/// (<c>http://127.0.0.1:PORT</c>). Trimming- and NativeAOT-safe: the CLI uses it when <c>AIRLOCK_HOST</c> is set.
/// </summary>
public sealed class AirlockClient : IDisposable
{
    private readonly HttpClient _http;

    public string Host { get; }

    /// <summary>Sequence number of the audit record of the last call that answered (header or closing frame).</summary>
    public long? LastAuditSeq { get; private set; }

    public AirlockClient(string host, string token)
    {
        Host = host;
        var handler = new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1), UseProxy = false, AllowAutoRedirect = false };
        Uri baseUri;
        if (host.StartsWith("unix:", StringComparison.Ordinal))
        {
            var path = host[5..];
            handler.ConnectCallback = async (_, ct) =>
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await s.ConnectAsync(new UnixDomainSocketEndPoint(path), ct).ConfigureAwait(false);
                    return new NetworkStream(s, ownsSocket: true);
                }
                catch (SocketException e)
                {
                    s.Dispose();
                    throw new AirlockException(AirlockException.ErrorCodes.GuestUnavailable, $"cannot reach the daemon at {host}: {e.Message}",
                        "start it with: airlock serve --data-dir DIR (or fix AIRLOCK_HOST)");
                }
            };
            baseUri = new Uri("http://airlock/");
        }
        else if (Uri.TryCreate(host, UriKind.Absolute, out var u) && u.Scheme is "http" or "https")
        {
            baseUri = new Uri(u.GetLeftPart(UriPartial.Authority) + "/");
        }
        else
        {
            throw new AirlockException(AirlockException.ErrorCodes.InvalidArgument, $"AIRLOCK_HOST '{host}' is neither unix:PATH nor http://HOST:PORT",
                "set AIRLOCK_HOST=unix:/var/lib/airlock-daemon/airlock.sock or http://127.0.0.1:PORT");
        }
        _http = new HttpClient(handler) { BaseAddress = baseUri, Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    /// <summary>A client from <c>AIRLOCK_HOST</c> and <c>AIRLOCK_TOKEN</c>, or null when no host is set.</summary>
    public static AirlockClient? FromEnvironment(string? hostOverride = null)
    {
        var host = hostOverride ?? Environment.GetEnvironmentVariable("AIRLOCK_HOST");
        if (string.IsNullOrEmpty(host))
        {
            return null;
        }
        var token = Environment.GetEnvironmentVariable("AIRLOCK_TOKEN");
        if (string.IsNullOrEmpty(token))
        {
            throw new AirlockException(AirlockException.ErrorCodes.Unauthorized, "AIRLOCK_HOST is set but AIRLOCK_TOKEN is not",
                "create a token with: airlock token create --data-dir DIR --tenant NAME, and export AIRLOCK_TOKEN");
        }
        return new AirlockClient(host, token);
    }

    // ------------------------------------------------------------------ templates

    public Task<IReadOnlyList<SandboxTemplate>> ListTemplatesAsync(CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, "v1/templates", null, ControlJson.Default.IReadOnlyListSandboxTemplate, ct);

    public Task<SandboxTemplate> GetTemplateAsync(string name, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, $"v1/templates/{Esc(name)}", null, ControlJson.Default.SandboxTemplate, ct);

    public Task<SandboxTemplate> ApplyTemplateAsync(SandboxTemplate t, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Put, $"v1/templates/{Esc(t.Name)}", Body(ToNode(t), ControlJson.Default.JsonObject), ControlJson.Default.SandboxTemplate, ct);

    public Task DeleteTemplateAsync(string name, CancellationToken ct = default) => SendAsync(HttpMethod.Delete, $"v1/templates/{Esc(name)}", null, ct);

    // ------------------------------------------------------------------ pools

    public Task<SandboxWarmPool> ApplyPoolAsync(string name, SandboxWarmPoolSpec spec, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Put, $"v1/pools/{Esc(name)}", Body(spec, ControlJson.Default.SandboxWarmPoolSpec), ControlJson.Default.SandboxWarmPool, ct);

    public Task<SandboxWarmPool> GetPoolAsync(string name, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, $"v1/pools/{Esc(name)}", null, ControlJson.Default.SandboxWarmPool, ct);

    public Task<IReadOnlyList<SandboxWarmPool>> ListPoolsAsync(CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, "v1/pools", null, ControlJson.Default.IReadOnlyListSandboxWarmPool, ct);

    public Task DeletePoolAsync(string name, CancellationToken ct = default) => SendAsync(HttpMethod.Delete, $"v1/pools/{Esc(name)}", null, ct);

    // ------------------------------------------------------------------ claims

    public Task<SandboxClaim> CreateClaimAsync(CreateClaimRequest req, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, "v1/claims", Body(req, ControlJson.Default.CreateClaimRequest), ControlJson.Default.SandboxClaim, ct);

    public Task<SandboxClaim> GetClaimAsync(string name, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, $"v1/claims/{Esc(name)}", null, ControlJson.Default.SandboxClaim, ct);

    public Task<IReadOnlyList<SandboxClaim>> ListClaimsAsync(CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, "v1/claims", null, ControlJson.Default.IReadOnlyListSandboxClaim, ct);

    public Task DeleteClaimAsync(string name, CancellationToken ct = default) => SendAsync(HttpMethod.Delete, $"v1/claims/{Esc(name)}", null, ct);

    // ------------------------------------------------------------------ sandboxes

    /// <summary>Creates a sandbox from a template name (a built-in or one applied to the daemon) or an inline template.</summary>
    public Task<Sandbox> CreateSandboxAsync(string? name = null, SandboxSpec? spec = null, SandboxTemplate? template = null, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, "v1/sandboxes",
            Body(new CreateSandboxRequest(name, spec, template is null ? null : ToNode(template)), ControlJson.Default.CreateSandboxRequest),
            ControlJson.Default.Sandbox, ct);

    public Task<Sandbox> GetSandboxAsync(string name, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, $"v1/sandboxes/{Esc(name)}", null, ControlJson.Default.Sandbox, ct);

    public Task<IReadOnlyList<Sandbox>> ListSandboxesAsync(CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, "v1/sandboxes", null, ControlJson.Default.IReadOnlyListSandbox, ct);

    public Task<Sandbox> PatchSandboxAsync(string name, PatchSandboxRequest patch, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Patch, $"v1/sandboxes/{Esc(name)}", Body(patch, ControlJson.Default.PatchSandboxRequest), ControlJson.Default.Sandbox, ct);

    public Task<Sandbox> SuspendAsync(string name, CancellationToken ct = default) => PatchSandboxAsync(name, new PatchSandboxRequest(OperatingModes.Suspended), ct);

    public Task<Sandbox> ResumeAsync(string name, CancellationToken ct = default) => PatchSandboxAsync(name, new PatchSandboxRequest(OperatingModes.Running), ct);

    public Task DeleteSandboxAsync(string name, CancellationToken ct = default) => SendAsync(HttpMethod.Delete, $"v1/sandboxes/{Esc(name)}", null, ct);

    /// <summary>Runs a command in a sandbox, streaming its output to <paramref name="io"/> as it comes.</summary>
    public async Task<ExecResult> ExecAsync(string sandbox, ExecSpec spec, ExecIo io, CancellationToken ct = default)
    {
        var body = await ToBodyAsync(spec, io.Stdin, ct).ConfigureAwait(false);
        var frame = await StreamAsync($"v1/sandboxes/{Esc(sandbox)}/exec", Body(body, ControlJson.Default.ExecRequestBody), io, ct).ConfigureAwait(false);
        return frame.Result!;
    }

    /// <summary>Runs a command in an ephemeral sandbox (warm when a pool of the same template is ready).</summary>
    public async Task<RunResult> RunAsync(SandboxTemplate template, ExecSpec spec, ExecIo io, CancellationToken ct = default) =>
        await RunAsync(new RunRequestBody { Template = ToNode(template), Exec = await ToBodyAsync(spec, io.Stdin, ct).ConfigureAwait(false) }, io, ct).ConfigureAwait(false);

    public async Task<RunResult> RunAsync(RunRequestBody body, ExecIo io, CancellationToken ct = default)
    {
        var frame = await StreamAsync("v1/run", Body(body, ControlJson.Default.RunRequestBody), io, ct).ConfigureAwait(false);
        return new RunResult(frame.Sandbox ?? "", frame.Result!);
    }

    private static async Task<ExecRequestBody> ToBodyAsync(ExecSpec spec, Stream? stdin, CancellationToken ct)
    {
        byte[]? input = null;
        if (stdin is not null)
        {
            var ms = new MemoryStream();
            await stdin.CopyToAsync(ms, ct).ConfigureAwait(false);
            input = ms.ToArray();
        }
        return new ExecRequestBody
        {
            Argv = spec.Argv,
            Env = spec.Env,
            Cwd = spec.Cwd,
            TimeoutMs = spec.Timeout is { } t ? (long)t.TotalMilliseconds : null,
            OutputLimit = spec.OutputLimit,
            Stdin = input,
        };
    }

    private async Task<ExecFrame> StreamAsync(string path, HttpContent content, ExecIo io, CancellationToken ct)
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
        using var resp = await _http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        await EnsureOkAsync(resp, ct).ConfigureAwait(false);
        using var reader = new StreamReader(await resp.Content.ReadAsStreamAsync(ct).ConfigureAwait(false), Encoding.UTF8);
        while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
        {
            if (line.Length == 0)
            {
                continue;
            }
            var f = JsonSerializer.Deserialize(line, ControlJson.Default.ExecFrame)!;
            if (f.Stdout is { } o)
            {
                await io.Stdout(o, ct).ConfigureAwait(false);
            }
            if (f.Stderr is { } e)
            {
                await io.Stderr(e, ct).ConfigureAwait(false);
            }
            if (f.Error is { } p)
            {
                LastAuditSeq = f.AuditSeq;
                throw new AirlockApiException(p);
            }
            if (f.Result is not null)
            {
                LastAuditSeq = f.AuditSeq;
                return f;
            }
        }
        throw new AirlockException(AirlockException.ErrorCodes.GuestUnavailable, "the daemon closed the exec stream before its result",
            "the daemon may have stopped; check it and retry");
    }

    // ------------------------------------------------------------------ files

    public async Task<long> ReadFileAsync(string sandbox, string path, Stream destination, CancellationToken ct = default)
    {
        using var req = new HttpRequestMessage(HttpMethod.Get, $"v1/sandboxes/{Esc(sandbox)}/files?path={Uri.EscapeDataString(path)}");
        using var resp = await _http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        await EnsureOkAsync(resp, ct).ConfigureAwait(false);
        await using var s = await resp.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        var before = destination.CanSeek ? destination.Position : 0;
        await s.CopyToAsync(destination, ct).ConfigureAwait(false);
        return destination.CanSeek ? destination.Position - before : resp.Content.Headers.ContentLength ?? 0;
    }

    public Task WriteFileAsync(string sandbox, string path, Stream source, int mode = 0x1A4, CancellationToken ct = default)
    {
        var content = new StreamContent(source);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        return SendAsync(HttpMethod.Put, $"v1/sandboxes/{Esc(sandbox)}/files?path={Uri.EscapeDataString(path)}&mode={Convert.ToString(mode, 8)}", content, ct);
    }

    public Task<IReadOnlyList<FileEntry>> ListFilesAsync(string sandbox, string path = ".", CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, $"v1/sandboxes/{Esc(sandbox)}/files/list?path={Uri.EscapeDataString(path)}", null, ControlJson.Default.IReadOnlyListFileEntry, ct);

    public Task DeleteFileAsync(string sandbox, string path, bool recursive = false, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Delete, $"v1/sandboxes/{Esc(sandbox)}/files?path={Uri.EscapeDataString(path)}&recursive={(recursive ? "true" : "false")}", null, ct);

    public Task MkdirAsync(string sandbox, string path, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, $"v1/sandboxes/{Esc(sandbox)}/files/mkdir?path={Uri.EscapeDataString(path)}", null, ct);

    /// <summary><see cref="ISandboxFiles"/> over the API, so code written for a backend works against a daemon.</summary>
    public ISandboxFiles Files(string sandbox) => new RemoteFiles(this, sandbox);

    private sealed class RemoteFiles(AirlockClient c, string sandbox) : ISandboxFiles
    {
        public Task<long> ReadAsync(string path, Stream destination, CancellationToken ct) => c.ReadFileAsync(sandbox, path, destination, ct);

        public async Task<long> WriteAsync(string path, Stream source, int mode, CancellationToken ct)
        {
            await c.WriteFileAsync(sandbox, path, source, mode, ct).ConfigureAwait(false);
            return source.CanSeek ? source.Length : 0;
        }

        public Task<IReadOnlyList<FileEntry>> ListAsync(string path, CancellationToken ct) => c.ListFilesAsync(sandbox, path, ct);

        public Task DeleteAsync(string path, bool recursive, CancellationToken ct) => c.DeleteFileAsync(sandbox, path, recursive, ct);

        public Task MkdirAsync(string path, bool parents, CancellationToken ct) => c.MkdirAsync(sandbox, path, ct);
    }

    // ------------------------------------------------------------------ events

    public Task<IReadOnlyList<AuditRecord>> EventsAsync(long after = 0, int limit = 100, string? kind = null, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Get, $"v1/events?after={after.ToString(CultureInfo.InvariantCulture)}&limit={limit.ToString(CultureInfo.InvariantCulture)}"
            + (kind is null ? "" : "&kind=" + Uri.EscapeDataString(kind)), null, ControlJson.Default.IReadOnlyListAuditRecord, ct);

    public async Task<bool> HealthyAsync(CancellationToken ct = default)
    {
        try
        {
            using var resp = await _http.GetAsync("healthz", ct).ConfigureAwait(false);
            return resp.IsSuccessStatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or AirlockException or IOException)
        {
            return false;
        }
    }

    // ------------------------------------------------------------------ plumbing

    private static string Esc(string name) => Uri.EscapeDataString(name);

    private static JsonObject ToNode(SandboxTemplate t) => JsonSerializer.SerializeToNode(t, CoreJson.Default.SandboxTemplate)!.AsObject();

    private static ByteArrayContent Body<T>(T value, JsonTypeInfo<T> info)
    {
        var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(value, info));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    private async Task<T> SendAsync<T>(HttpMethod method, string path, HttpContent? content, JsonTypeInfo<T> info, CancellationToken ct)
    {
        using var req = new HttpRequestMessage(method, path) { Content = content };
        using var resp = await _http.SendAsync(req, ct).ConfigureAwait(false);
        await EnsureOkAsync(resp, ct).ConfigureAwait(false);
        await using var s = await resp.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        return (await JsonSerializer.DeserializeAsync(s, info, ct).ConfigureAwait(false))!;
    }

    private async Task SendAsync(HttpMethod method, string path, HttpContent? content, CancellationToken ct)
    {
        using var req = new HttpRequestMessage(method, path) { Content = content };
        using var resp = await _http.SendAsync(req, ct).ConfigureAwait(false);
        await EnsureOkAsync(resp, ct).ConfigureAwait(false);
    }

    private async Task EnsureOkAsync(HttpResponseMessage resp, CancellationToken ct)
    {
        if (resp.Headers.TryGetValues("Airlock-Audit-Seq", out var seqs) && long.TryParse(seqs.FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var seq))
        {
            LastAuditSeq = seq;
        }
        if (resp.IsSuccessStatusCode)
        {
            return;
        }
        var text = await resp.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        Problem? p = null;
        try
        {
            p = JsonSerializer.Deserialize(text, ControlJson.Default.Problem);
        }
        catch (JsonException)
        {
        }
        throw new AirlockApiException(p ?? new Problem { Status = (int)resp.StatusCode, Code = "http-" + (int)resp.StatusCode, Title = resp.ReasonPhrase ?? "", Detail = text });
    }

    public void Dispose() => _http.Dispose();
}
