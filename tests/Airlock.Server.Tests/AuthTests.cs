using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Airlock.Client;
using Airlock.ControlPlane.Audit;
using Airlock.ControlPlane.Store;
using Airlock.Core.Backends;
using Airlock.Core.Control;

namespace Airlock.Server.Tests;

/// <summary>Raw HTTP against a daemon's socket (for bodies and headers <see cref="AirlockClient"/> would never send),
/// problem+json assertions and a read-only view of the audit log.</summary>
internal static class ApiProbe
{
    public const string SeqHeader = "Airlock-Audit-Seq";

    public static HttpClient Http(Daemon d, string? token = null)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectCallback = async (_, ct) =>
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await s.ConnectAsync(new UnixDomainSocketEndPoint(d.Socket), ct).ConfigureAwait(false);
                    return new NetworkStream(s, ownsSocket: true);
                }
                catch
                {
                    s.Dispose();
                    throw;
                }
            },
        };
        var http = new HttpClient(handler) { BaseAddress = new Uri("http://airlock/"), Timeout = TimeSpan.FromSeconds(120) };
        if (token is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        return http;
    }

    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    public static string SandboxBody(string name) => """{"name":""" + JsonSerializer.Serialize(name) + ""","spec":{"sandboxTemplateRef":{"name":"shell"}}}""";

    /// <summary>Asserts an RFC 9457 answer with this status and code, and returns it.</summary>
    public static async Task<Problem> ProblemAsync(HttpResponseMessage r, int status, string code)
    {
        var body = await r.Content.ReadAsStringAsync().ConfigureAwait(false);
        Assert.True((int)r.StatusCode == status, $"expected HTTP {status}, got {(int)r.StatusCode}: {body}");
        Assert.True(r.Content.Headers.ContentType?.MediaType == "application/problem+json",
            $"expected application/problem+json, got '{r.Content.Headers.ContentType}': {body}");
        var p = JsonSerializer.Deserialize(body, ControlJson.Default.Problem)!;
        Assert.Equal(status, p.Status);
        Assert.True(p.Code == code, $"expected code {code}: {body}");
        Assert.False(string.IsNullOrEmpty(p.Title), body);
        Assert.False(string.IsNullOrEmpty(p.Type), body);
        return p;
    }

    public static void AssertNamesField(Problem p, string field) =>
        Assert.True(p.Errors?.Any(e => e.Field == field) == true,
            $"expected errors[] to name '{field}', got: {string.Join("; ", p.Errors?.Select(e => $"{e.Field}: {e.Reason}") ?? [])} (detail: {p.Detail})");

    public static long Seq(HttpResponseMessage r)
    {
        Assert.True(r.Headers.TryGetValues(SeqHeader, out var v), $"no {SeqHeader} header on HTTP {(int)r.StatusCode}");
        return long.Parse(v.Single(), NumberStyles.None, CultureInfo.InvariantCulture);
    }

    /// <summary>The whole audit log, read beside the running daemon (or after it stopped).</summary>
    public static List<AuditRecord> Audit(string dataDir)
    {
        using var store = new ControlStore(dataDir, readOnly: true);
        return store.Locked(db => AuditLog.Read(db));
    }

    public static AuditRecord Record(Daemon d, long seq)
    {
        var all = Audit(d.DataDir);
        var r = all.SingleOrDefault(x => x.Seq == seq);
        Assert.True(r is not null, $"audit record {seq} is not in the log (last is {all.LastOrDefault()?.Seq})");
        return r;
    }

    public static string TokenId(string token) => token.Split('_')[1];

    public static async Task<(int Exit, string Out, string Err)> ExecAsync(AirlockClient c, string sandbox, params string[] argv)
    {
        var o = new MemoryStream();
        var e = new MemoryStream();
        var r = await c.ExecAsync(sandbox, new ExecSpec(argv), ExecIo.Capture(o, e)).ConfigureAwait(false);
        return (r.ExitCode, Encoding.UTF8.GetString(o.ToArray()), Encoding.UTF8.GetString(e.ToArray()));
    }

    public static async Task<AirlockApiException> ApiErrorAsync(Func<Task> call, int status, string code)
    {
        var e = await Assert.ThrowsAsync<AirlockApiException>(call).ConfigureAwait(false);
        Assert.True(e.Status == status && e.Code == code, $"expected {status} {code}, got {e.Status} {e.Code}: {e.Message}");
        return e;
    }
}

/// <summary>Bearer tokens, scopes, tenant isolation and how every refusal lands in the audit log.</summary>
public sealed class AuthTests
{
    [Fact]
    public async Task WithoutATokenEveryEndpointButHealthzIsUnauthorizedAndAudited()
    {
        await using var d = await Daemon.StartAsync();
        using var anon = ApiProbe.Http(d);
        var calls = new (HttpMethod Method, string Path, string? Body, string Action)[]
        {
            (HttpMethod.Get, "v1/sandboxes", null, "sandbox.list"),
            (HttpMethod.Post, "v1/sandboxes", ApiProbe.SandboxBody("s1"), "sandbox.create"),
            (HttpMethod.Get, "openapi.json", null, "api.openapi"),
            (HttpMethod.Get, "v1/events", null, "audit.events"),
            (HttpMethod.Delete, "v1/sandboxes/s1", null, "sandbox.delete"),
            (HttpMethod.Post, "v1/sandboxes/s1/exec", """{"argv":["true"]}""", "sandbox.exec"),
        };
        var seqs = new List<(long Seq, string Action)>();
        foreach (var (method, path, body, action) in calls)
        {
            using var req = new HttpRequestMessage(method, path) { Content = body is null ? null : ApiProbe.Json(body) };
            using var r = await anon.SendAsync(req);
            var p = await ApiProbe.ProblemAsync(r, 401, "unauthorized");
            Assert.Contains("Bearer", r.Headers.WwwAuthenticate.Select(h => h.Scheme));
            Assert.False(string.IsNullOrEmpty(p.Remedy));
            seqs.Add((ApiProbe.Seq(r), action));
        }

        using (var health = await anon.GetAsync("healthz"))
        {
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            Assert.Equal("ok", JsonDocument.Parse(await health.Content.ReadAsStringAsync()).RootElement.GetProperty("status").GetString());
            Assert.False(health.Headers.Contains(ApiProbe.SeqHeader), "healthz is not an audited API call");
        }

        foreach (var (seq, action) in seqs)
        {
            var rec = ApiProbe.Record(d, seq);
            Assert.Equal(("denied", "token:missing", "unauthorized", action, "-"), (rec.Decision, rec.Rule, rec.Outcome, rec.Action, rec.Tenant));
        }
        // The refused create and exec did nothing.
        using var acme = await d.TenantAsync("acme");
        Assert.Empty(await acme.ListSandboxesAsync());
        Assert.Empty(d.BackendIds());
    }

    [Fact]
    public async Task MalformedUnknownAndWrongSecretTokensAreUnauthorized()
    {
        await using var d = await Daemon.StartAsync();
        var good = await d.TokenAsync("acme");
        var id = ApiProbe.TokenId(good);
        var secret = good.Split('_')[2];
        var wrongSecret = new string(secret.Reverse().ToArray()) is var rev && rev != secret ? rev : new string('0', 64);
        var cases = new (string Header, string Rule)[]
        {
            ("Bearer garbage", "token:malformed"),
            ("Bearer alk_123", "token:malformed"),
            ($"Bearer alk_{id}", "token:malformed"),
            ($"Bearer alk_{id}_{secret[..20]}", "token:malformed"),
            ($"Bearer alk_{id}_{wrongSecret}", "token:unknown"),
            ($"Bearer alk_{(id == "0123456789ab" ? "ba9876543210" : "0123456789ab")}_{secret}", "token:unknown"),
            ($"Bearer {good.ToUpperInvariant()}", "token:malformed"),
            ($"Basic {Convert.ToBase64String(Encoding.ASCII.GetBytes("acme:" + good))}", "token:missing"),
            ("Bearer ", "token:missing"),
        };
        using var http = ApiProbe.Http(d);
        foreach (var (header, rule) in cases)
        {
            using var req = new HttpRequestMessage(HttpMethod.Get, "v1/sandboxes");
            req.Headers.TryAddWithoutValidation("Authorization", header);
            using var r = await http.SendAsync(req);
            await ApiProbe.ProblemAsync(r, 401, "unauthorized");
            Assert.Contains("Bearer", r.Headers.WwwAuthenticate.Select(h => h.Scheme));
            var rec = ApiProbe.Record(d, ApiProbe.Seq(r));
            Assert.True((rec.Decision, rec.Rule) == ("denied", rule), $"{header}: recorded {rec.Decision} {rec.Rule}, expected denied {rule}");
            Assert.Equal("-", rec.TokenId);
        }

        // The real token still works, and no secret ever reached the audit log.
        using var c = d.Client(good);
        Assert.Empty(await c.ListSandboxesAsync());
        var rec2 = ApiProbe.Record(d, c.LastAuditSeq!.Value);
        Assert.Equal(("allowed", "acme", id), (rec2.Decision, rec2.Tenant, rec2.TokenId));
        foreach (var r in ApiProbe.Audit(d.DataDir))
        {
            var text = JsonSerializer.Serialize(r, ControlJson.Default.AuditRecord);
            Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
            Assert.DoesNotContain(wrongSecret, text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task ATenantCannotSeeOrTouchAnotherTenantsSandboxesAndClaims()
    {
        await using var d = await Daemon.StartAsync();
        using var a = await d.TenantAsync("acme");
        using var b = await d.TenantAsync("globex");
        await a.CreateSandboxAsync("s1", new SandboxSpec { SandboxTemplateRef = new NameRef("shell") });
        await a.CreateClaimAsync(new CreateClaimRequest("c1", new SandboxClaimSpec { SandboxTemplateRef = new NameRef("shell") }));
        Assert.Equal(0, (await ApiProbe.ExecAsync(a, "s1", "sh", "-c", "echo acme > marker")).Exit);

        Assert.Empty(await b.ListSandboxesAsync());
        Assert.Empty(await b.ListClaimsAsync());
        var denied = new (string What, Func<Task> Call)[]
        {
            ("get", () => b.GetSandboxAsync("s1")),
            ("exec", () => ApiProbe.ExecAsync(b, "s1", "sh", "-c", "echo pwned > marker")),
            ("suspend", () => b.SuspendAsync("s1")),
            ("delete", () => b.DeleteSandboxAsync("s1")),
            ("file read", () => b.ReadFileAsync("s1", "marker", new MemoryStream())),
            ("file write", () => b.WriteFileAsync("s1", "marker", new MemoryStream("pwned"u8.ToArray()))),
            ("file list", () => b.ListFilesAsync("s1")),
            ("claim get", () => b.GetClaimAsync("c1")),
            ("claim delete", () => b.DeleteClaimAsync("c1")),
            ("claim's sandbox exec", () => ApiProbe.ExecAsync(b, "c1", "true")),
            ("claim's sandbox delete", () => b.DeleteSandboxAsync("c1")),
        };
        foreach (var (what, call) in denied)
        {
            var e = await Assert.ThrowsAsync<AirlockApiException>(call);
            Assert.True(e.Status == 404 && e.Code == "not-found", $"{what}: {e.Status} {e.Code} {e.Message}");
            var rec = ApiProbe.Record(d, b.LastAuditSeq!.Value);
            Assert.True(rec.Tenant == "globex" && rec.Outcome == "not-found", $"{what}: audit {rec.Tenant} {rec.Action} {rec.Outcome}");
        }

        // B's list still empty; its events show none of A's records.
        Assert.Empty(await b.ListSandboxesAsync());
        Assert.Empty(await b.ListClaimsAsync());
        var events = await b.EventsAsync(limit: 1000);
        Assert.NotEmpty(events);
        Assert.All(events, r => Assert.Equal("globex", r.Tenant));

        // A's sandbox is untouched: running, not suspended, the file unchanged, and it still executes.
        var s1 = await a.GetSandboxAsync("s1");
        Assert.Equal(OperatingModes.Running, s1.Spec.OperatingMode);
        Assert.True(Conditions.IsTrue(s1.Status.Conditions, Conditions.Ready));
        var cat = await ApiProbe.ExecAsync(a, "s1", "cat", "marker");
        Assert.Equal((0, "acme\n"), (cat.Exit, cat.Out));
        Assert.Equal("c1", (await a.GetClaimAsync("c1")).Name);
        Assert.Equal(0, (await ApiProbe.ExecAsync(a, "c1", "true")).Exit);
        Assert.Equal(["c1", "s1"], (await a.ListSandboxesAsync()).Select(s => s.Name).Order());

        // Names are per tenant: B may use the same name, and gets its own sandbox.
        await b.CreateSandboxAsync("s1", new SandboxSpec { SandboxTemplateRef = new NameRef("shell") });
        var bcat = await ApiProbe.ExecAsync(b, "s1", "sh", "-c", "cat marker 2>/dev/null || echo none");
        Assert.Equal("none\n", bcat.Out);
        Assert.Equal("acme\n", (await ApiProbe.ExecAsync(a, "s1", "cat", "marker")).Out);
    }

    [Fact]
    public async Task AnExpiredTokenIsRefusedAndAuditedAsExpired()
    {
        await using var d = await Daemon.StartAsync();
        var sw = Stopwatch.StartNew();
        var token = await d.TokenAsync("acme", "2s");
        using var c = d.Client(token);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(1.5), $"token create took {sw.Elapsed}: cannot test expiry with a 2s TTL");
        Assert.Empty(await c.ListSandboxesAsync());

        // Expired at 2 s; validations are cached for 2 s, but never past the expiry.
        await Task.Delay(TimeSpan.FromTicks(Math.Max(0, (TimeSpan.FromSeconds(2.6) - sw.Elapsed).Ticks)));
        var e = await ApiProbe.ApiErrorAsync(() => c.ListSandboxesAsync(), 401, "unauthorized");
        Assert.Contains("expired", e.Message, StringComparison.Ordinal);
        var rec = ApiProbe.Record(d, c.LastAuditSeq!.Value);
        Assert.Equal(("denied", "token:expired", "sandbox.list"), (rec.Decision, rec.Rule, rec.Action));

        // The creation itself was audited with its expiry.
        var created = ApiProbe.Audit(d.DataDir).Single(r => r.Action == "token.create" && r.Target == ApiProbe.TokenId(token));
        Assert.DoesNotContain("expires=never", created.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARevokedTokenIsRefusedWithinThreeSeconds()
    {
        await using var d = await Daemon.StartAsync();
        var token = await d.TokenAsync("acme");
        var other = await d.TokenAsync("acme");
        using var c = d.Client(token);
        using var o = d.Client(other);
        Assert.Empty(await c.ListSandboxesAsync());

        var revoke = await d.RunCliAsync(["token", "revoke", "--data-dir", d.DataDir, ApiProbe.TokenId(token)]);
        Assert.True(revoke.ExitCode == 0, revoke.ToString());
        var sw = Stopwatch.StartNew();
        AirlockApiException? refused = null;
        while (refused is null)
        {
            try
            {
                await c.ListSandboxesAsync();
            }
            catch (AirlockApiException e)
            {
                refused = e;
            }
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(3), "the revoked token still worked after 3 s");
            await Task.Delay(100);
        }
        Assert.Equal((401, "unauthorized"), (refused.Status, refused.Code));
        Assert.Contains("revoked", refused.Message, StringComparison.Ordinal);
        var rec = ApiProbe.Record(d, c.LastAuditSeq!.Value);
        Assert.Equal(("denied", "token:revoked"), (rec.Decision, rec.Rule));
        Assert.Contains(ApiProbe.Audit(d.DataDir), r => r.Action == "token.revoke" && r.Target == ApiProbe.TokenId(token));

        // Only that token: the tenant's other token is unaffected.
        Assert.Empty(await o.ListSandboxesAsync());

        // Revoking an id that does not exist is an error naming it.
        var missing = await d.RunCliAsync(["token", "revoke", "--data-dir", d.DataDir, "ffffffffffff"]);
        Assert.Equal(125, missing.ExitCode);
        Assert.Contains("ffffffffffff", missing.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ScopesLimitWhatATokenMayDo()
    {
        await using var d = await Daemon.StartAsync();
        var auditOnly = await d.TokenAsync("acme", null, "audit");
        var sandboxOnly = await d.TokenAsync("acme", null, "sandbox");
        using var full = await d.TenantAsync("acme");
        using var http = ApiProbe.Http(d, auditOnly);

        using (var r = await http.PostAsync("v1/sandboxes", ApiProbe.Json(ApiProbe.SandboxBody("s1"))))
        {
            var p = await ApiProbe.ProblemAsync(r, 403, "forbidden");
            Assert.Contains("sandbox", p.Detail, StringComparison.Ordinal);
            var rec = ApiProbe.Record(d, ApiProbe.Seq(r));
            Assert.Equal(("denied", "scope:sandbox", "acme", ApiProbe.TokenId(auditOnly), "sandbox.create"),
                (rec.Decision, rec.Rule, rec.Tenant, rec.TokenId, rec.Action));
        }
        using (var r = await http.GetAsync("v1/sandboxes"))
        {
            await ApiProbe.ProblemAsync(r, 403, "forbidden");
        }
        Assert.Empty(await full.ListSandboxesAsync());
        Assert.Empty(d.BackendIds());

        // The audit scope reads the tenant's events, including the refusal above.
        using (var r = await http.GetAsync("v1/events?limit=1000"))
        {
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            var events = JsonSerializer.Deserialize(await r.Content.ReadAsStringAsync(), ControlJson.Default.IReadOnlyListAuditRecord)!;
            Assert.Contains(events, e => e.Action == "sandbox.create" && e.Decision == "denied" && e.Rule == "scope:sandbox");
            Assert.All(events, e => Assert.Equal("acme", e.Tenant));
        }

        // A sandbox-only token may create sandboxes but neither apply templates nor read events.
        using var sb = d.Client(sandboxOnly);
        await ApiProbe.ApiErrorAsync(() => sb.ApplyTemplateAsync(Core.Templates.BuiltinTemplates.Shell with { Name = "mine" }), 403, "forbidden");
        Assert.Equal("scope:template", ApiProbe.Record(d, sb.LastAuditSeq!.Value).Rule);
        await ApiProbe.ApiErrorAsync(() => sb.EventsAsync(), 403, "forbidden");
        Assert.Equal("scope:audit", ApiProbe.Record(d, sb.LastAuditSeq!.Value).Rule);
        await ApiProbe.ApiErrorAsync(() => full.GetTemplateAsync("mine"), 404, "not-found");
        await sb.CreateSandboxAsync("s2", new SandboxSpec { SandboxTemplateRef = new NameRef("shell") });
        Assert.Equal(["s2"], (await full.ListSandboxesAsync()).Select(s => s.Name));
        await sb.DeleteSandboxAsync("s2");
    }

    [Fact]
    public async Task TokenCreatePrintsOnlyTheTokenAndRejectsBadOptions()
    {
        await using var d = await Daemon.StartAsync();
        var ok = await d.RunCliAsync(["token", "create", "--data-dir", d.DataDir, "--tenant", "acme", "--ttl", "1h", "--scope", "sandbox", "--scope", "audit"]);
        Assert.True(ok.ExitCode == 0, ok.ToString());
        var lines = ok.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Matches("^alk_[0-9a-f]{12}_[0-9a-f]{64}$", lines[0]);
        Assert.Equal(lines[0] + "\n", ok.Stdout);
        var created = ApiProbe.Audit(d.DataDir).Single(r => r.Action == "token.create");
        Assert.Equal(("acme", ApiProbe.TokenId(lines[0])), (created.Tenant, created.Target));
        Assert.Contains("scopes=sandbox,audit", created.Detail, StringComparison.Ordinal);

        var bad = new (string[] Args, string Option)[]
        {
            (["--tenant", "BAD_NAME"], "--tenant"),
            (["--tenant", "acme", "--ttl", "x"], "--ttl"),
            (["--tenant", "acme", "--ttl", "0s"], "--ttl"),
            (["--tenant", "acme", "--ttl", "-1h"], "--ttl"),
            (["--tenant", "acme", "--scope", "nope"], "--scope"),
        };
        foreach (var (args, option) in bad)
        {
            var r = await d.RunCliAsync(["token", "create", "--data-dir", d.DataDir, .. args]);
            Assert.True(r.ExitCode == 125, $"{string.Join(' ', args)}: {r}");
            Assert.Contains(option, r.Stderr, StringComparison.Ordinal);
            Assert.Equal("", r.Stdout);
        }
        // None of the refused ones was stored.
        Assert.Single(ApiProbe.Audit(d.DataDir), r => r.Action == "token.create");
    }
}
