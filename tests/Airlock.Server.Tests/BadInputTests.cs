using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Airlock.Client;
using Airlock.Core.Control;
using Airlock.Core.Templates;

namespace Airlock.Server.Tests;

/// <summary>One daemon and one tenant shared by the bad-input tests (none of which may create anything).</summary>
public sealed class BadInputDaemon : IAsyncLifetime
{
    public Daemon D { get; private set; } = null!;
    public string Token { get; private set; } = "";
    public AirlockClient Client { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        D = await Daemon.StartAsync().ConfigureAwait(false);
        Token = await D.TokenAsync("acme").ConfigureAwait(false);
        Client = D.Client(Token);
        Http = ApiProbe.Http(D, Token);
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        Client.Dispose();
        await D.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>Malformed, oversized and invalid requests: a precise problem+json naming the field, and no side effect.</summary>
public sealed class BadInputTests(BadInputDaemon fx) : IClassFixture<BadInputDaemon>
{
    private Daemon D => fx.D;

    private async Task<Problem> SendAsync(HttpMethod method, string path, HttpContent? content, int status, string code)
    {
        using var req = new HttpRequestMessage(method, path) { Content = content };
        using var r = await fx.Http.SendAsync(req);
        var p = await ApiProbe.ProblemAsync(r, status, code);
        // Refused calls are audited too, with the problem's code as outcome.
        var rec = ApiProbe.Record(D, ApiProbe.Seq(r));
        Assert.Equal(code, rec.Outcome);
        await AssertNothingCreatedAsync();
        return p;
    }

    private Task<Problem> PostJsonAsync(string path, string json, int status, string code) =>
        SendAsync(HttpMethod.Post, path, ApiProbe.Json(json), status, code);

    private async Task AssertNothingCreatedAsync()
    {
        Assert.Empty(await fx.Client.ListSandboxesAsync());
        Assert.Empty(await fx.Client.ListClaimsAsync());
        Assert.Empty(await fx.Client.ListPoolsAsync());
        // The built-in templates only: nothing applied.
        Assert.Equal(BuiltinTemplates.All.Select(t => t.Name).Order(), (await fx.Client.ListTemplatesAsync()).Select(t => t.Name).Order());
        Assert.Empty(D.BackendIds());
    }

    [Fact]
    public async Task MalformedJsonIsInvalidRequest()
    {
        // Truncated: named where the parser stopped.
        var p = await PostJsonAsync("v1/sandboxes", """{"name":"s1","spec":""", 400, "invalid-request");
        ApiProbe.AssertNamesField(p, "spec");
        ApiProbe.AssertNamesField(await PostJsonAsync("v1/sandboxes", "{bad", 400, "invalid-request"), "body");
        await PostJsonAsync("v1/sandboxes", "", 400, "invalid-request");
        await PostJsonAsync("v1/sandboxes", "null", 400, "invalid-request");
        await PostJsonAsync("v1/sandboxes", "[]", 400, "invalid-request");
        await PostJsonAsync("v1/claims", "{", 400, "invalid-request");
        await SendAsync(HttpMethod.Put, "v1/pools/p1", ApiProbe.Json("{\"replicas\":"), 400, "invalid-request");
        await PostJsonAsync("v1/sandboxes/s1/exec", "not json", 400, "invalid-request");
    }

    [Fact]
    public async Task AnUnknownFieldIsNamed()
    {
        var p = await PostJsonAsync("v1/sandboxes", """{"nme":"x"}""", 400, "invalid-request");
        ApiProbe.AssertNamesField(p, "nme");
        Assert.Equal("unknown field", p.Errors!.Single(e => e.Field == "nme").Reason);

        var nested = await PostJsonAsync("v1/sandboxes", """{"name":"s1","spec":{"sandboxTemplateRef":{"name":"shell"},"replicas":2}}""", 400, "invalid-request");
        Assert.Contains(nested.Errors!, e => e.Field.StartsWith("spec", StringComparison.Ordinal) && e.Reason == "unknown field");

        var exec = await PostJsonAsync("v1/sandboxes/s1/exec", """{"argv":["true"],"shell":true}""", 400, "invalid-request");
        ApiProbe.AssertNamesField(exec, "shell");
    }

    [Fact]
    public async Task AWrongTypeIsNamed()
    {
        var p = await PostJsonAsync("v1/sandboxes", """{"name":5}""", 400, "invalid-request");
        ApiProbe.AssertNamesField(p, "name");
        var q = await SendAsync(HttpMethod.Put, "v1/pools/p1", ApiProbe.Json("""{"replicas":"two","sandboxTemplateRef":{"name":"shell"}}"""), 400, "invalid-request");
        ApiProbe.AssertNamesField(q, "replicas");
        var e = await PostJsonAsync("v1/sandboxes/s1/exec", """{"argv":"true"}""", 400, "invalid-request");
        ApiProbe.AssertNamesField(e, "argv");
    }

    [Fact]
    public async Task OversizedBodiesAreTooLarge()
    {
        // 2 MiB on a JSON endpoint (limit 1 MiB), with and without a Content-Length.
        var big = "{\"name\":\"s1\",\"spec\":{\"sandboxTemplateRef\":{\"name\":\"shell\"}},\"pad\":\"" + new string('x', 2 << 20) + "\"}";
        await PostJsonAsync("v1/sandboxes", big, 413, "too-large");
        var chunked = new StreamContent(new NonSeekable(Encoding.UTF8.GetBytes(big)));
        chunked.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        await SendAsync(HttpMethod.Post, "v1/sandboxes", chunked, 413, "too-large");
        // Just under 1 MiB is read and judged on its content (here: an invalid name).
        var under = "{\"name\":\"Not_Valid\",\"spec\":{\"sandboxTemplateRef\":{\"name\":\"shell\"},\"env\":{\"PAD\":\"" + new string('x', 1000 << 10) + "\"}}}";
        var p = await PostJsonAsync("v1/sandboxes", under, 422, "invalid");
        ApiProbe.AssertNamesField(p, "metadata.name");

        // exec: 16 MiB. 17 MiB is refused; 15 MiB is read (and then finds no such sandbox).
        var exec17 = $$"""{"argv":["true"],"stdin":"{{Convert.ToBase64String(new byte[(17 << 20) / 4 * 3])}}"}""";
        Assert.True(exec17.Length > 17 << 20);
        await PostJsonAsync("v1/sandboxes/s1/exec", exec17, 413, "too-large");
        var exec15 = $$"""{"argv":["true"],"stdin":"{{Convert.ToBase64String(new byte[(15 << 20) / 4 * 3])}}"}""";
        await PostJsonAsync("v1/sandboxes/s1/exec", exec15, 404, "not-found");

        // file upload: 64 MiB.
        var file = new ByteArrayContent(new byte[(64 << 20) + 1]);
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        await SendAsync(HttpMethod.Put, "v1/sandboxes/s1/files?path=f", file, 413, "too-large");
    }

    [Fact]
    public async Task AnInvalidNameInTheBodyNamesMetadataName()
    {
        foreach (var name in new[] { "BAD_NAME", "-x", "x-", "a.b", new string('a', 64), "" })
        {
            var p = await PostJsonAsync("v1/sandboxes", ApiProbe.SandboxBody(name), 422, "invalid");
            ApiProbe.AssertNamesField(p, "metadata.name");
        }
        var claim = await PostJsonAsync("v1/claims", """{"name":"C1","spec":{"sandboxTemplateRef":{"name":"shell"}}}""", 422, "invalid");
        ApiProbe.AssertNamesField(claim, "metadata.name");
        var tpl = await PostJsonAsync("v1/sandboxes", """{"name":"s1","spec":{"sandboxTemplateRef":{"name":"Shell!"}}}""", 422, "invalid");
        ApiProbe.AssertNamesField(tpl, "spec.sandboxTemplateRef.name");
        var missing = await PostJsonAsync("v1/sandboxes", """{"name":"s1"}""", 422, "invalid");
        ApiProbe.AssertNamesField(missing, "spec.sandboxTemplateRef.name");
    }

    [Fact]
    public async Task AnInvalidNameInTheUrlNamesName()
    {
        ApiProbe.AssertNamesField(await SendAsync(HttpMethod.Get, "v1/sandboxes/BAD_NAME", null, 422, "invalid"), "name");
        ApiProbe.AssertNamesField(await SendAsync(HttpMethod.Delete, "v1/sandboxes/BAD_NAME", null, 422, "invalid"), "name");
        ApiProbe.AssertNamesField(await PostJsonAsync("v1/sandboxes/BAD_NAME/exec", """{"argv":["true"]}""", 422, "invalid"), "name");
        ApiProbe.AssertNamesField(await SendAsync(HttpMethod.Get, "v1/claims/Bad.Name", null, 422, "invalid"), "name");
        ApiProbe.AssertNamesField(await SendAsync(HttpMethod.Put, "v1/pools/P1", ApiProbe.Json("""{"replicas":1,"sandboxTemplateRef":{"name":"shell"}}"""), 422, "invalid"), "name");
        ApiProbe.AssertNamesField(await SendAsync(HttpMethod.Put, "v1/templates/T1", ApiProbe.Json("{}"), 422, "invalid"), "name");
    }

    [Fact]
    public async Task AnUnknownTemplateIsNotFoundAndNamed()
    {
        var p = await PostJsonAsync("v1/sandboxes", """{"name":"s1","spec":{"sandboxTemplateRef":{"name":"nosuch"}}}""", 404, "not-found");
        Assert.Contains("'nosuch'", p.Detail, StringComparison.Ordinal);
        var c = await PostJsonAsync("v1/claims", """{"name":"c1","spec":{"sandboxTemplateRef":{"name":"nosuch"}}}""", 404, "not-found");
        Assert.Contains("'nosuch'", c.Detail, StringComparison.Ordinal);
        var pool = await PostJsonAsync("v1/claims", """{"name":"c1","spec":{"warmPoolRef":{"name":"nopool"}}}""", 404, "not-found");
        Assert.Contains("'nopool'", pool.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnInvalidInlineTemplateNamesItsField()
    {
        var p = await PostJsonAsync("v1/sandboxes", """{"template":{"name":"t1","resources":{"memory":"lots"}}}""", 422, "invalid");
        ApiProbe.AssertNamesField(p, "resources.memory");
        var unknown = await PostJsonAsync("v1/sandboxes", """{"template":{"name":"t1","resources":{"memroy":"1Gi"}}}""", 422, "invalid");
        Assert.Contains(unknown.Errors!, e => e.Field.Contains("memroy", StringComparison.Ordinal));
        var net = await PostJsonAsync("v1/sandboxes", """{"template":{"name":"t1","network":{"mode":"host"}}}""", 422, "invalid");
        ApiProbe.AssertNamesField(net, "network.mode");
        // The same through PUT /v1/templates: nothing is stored.
        var put = await SendAsync(HttpMethod.Put, "v1/templates/t1", ApiProbe.Json("""{"resources":{"memory":"lots"}}"""), 422, "invalid");
        ApiProbe.AssertNamesField(put, "resources.memory");
    }

    [Fact]
    public async Task ClaimEnvOnADisallowingTemplateNamesTheVariable()
    {
        Assert.Equal(Core.Model.EnvVarsInjectionPolicies.Disallowed, (await fx.Client.GetTemplateAsync("shell")).EnvVarsInjectionPolicy);
        var p = await PostJsonAsync("v1/claims", """{"name":"c1","spec":{"sandboxTemplateRef":{"name":"shell"},"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}]}}""", 422, "invalid");
        ApiProbe.AssertNamesField(p, "spec.env[0]");
        ApiProbe.AssertNamesField(p, "spec.env[1]");
        var bad = await PostJsonAsync("v1/claims", """{"name":"c1","spec":{"sandboxTemplateRef":{"name":"shell"},"env":[{"name":"1X","value":"1"}]}}""", 422, "invalid");
        ApiProbe.AssertNamesField(bad, "spec.env[0].name");
    }

    [Fact]
    public async Task AClaimNamesExactlyOneSource()
    {
        var both = await PostJsonAsync("v1/claims", """{"name":"c1","spec":{"warmPoolRef":{"name":"p1"},"sandboxTemplateRef":{"name":"shell"}}}""", 422, "invalid");
        ApiProbe.AssertNamesField(both, "spec");
        var neither = await PostJsonAsync("v1/claims", """{"name":"c1","spec":{}}""", 422, "invalid");
        ApiProbe.AssertNamesField(neither, "spec");
        var ttl = await PostJsonAsync("v1/claims", """{"name":"c1","spec":{"sandboxTemplateRef":{"name":"shell"},"lifecycle":{"ttlSecondsAfterFinished":-1}}}""", 422, "invalid");
        ApiProbe.AssertNamesField(ttl, "spec.lifecycle.ttlSecondsAfterFinished");
        var past = await PostJsonAsync("v1/claims", """{"name":"c1","spec":{"sandboxTemplateRef":{"name":"shell"},"lifecycle":{"shutdownTime":"2000-01-01T00:00:00Z"}}}""", 422, "invalid");
        ApiProbe.AssertNamesField(past, "spec.lifecycle.shutdownTime");
    }

    [Fact]
    public async Task APoolWithBadReplicasNamesThem()
    {
        foreach (var n in new[] { -1, 257 })
        {
            var p = await SendAsync(HttpMethod.Put, "v1/pools/p1", ApiProbe.Json("{\"replicas\":" + n.ToString(System.Globalization.CultureInfo.InvariantCulture) + ""","sandboxTemplateRef":{"name":"shell"}}"""), 422, "invalid");
            ApiProbe.AssertNamesField(p, "spec.replicas");
        }
        var strategy = await SendAsync(HttpMethod.Put, "v1/pools/p1", ApiProbe.Json("""{"replicas":1,"sandboxTemplateRef":{"name":"shell"},"updateStrategy":{"type":"Sometimes"}}"""), 422, "invalid");
        ApiProbe.AssertNamesField(strategy, "spec.updateStrategy.type");
        var noTemplate = await SendAsync(HttpMethod.Put, "v1/pools/p1", ApiProbe.Json("""{"replicas":1}"""), 422, "invalid");
        ApiProbe.AssertNamesField(noTemplate, "spec.sandboxTemplateRef.name");
    }

    [Fact]
    public async Task ATemplateWhoseNameDiffersFromTheUrlIsRefused()
    {
        var p = await SendAsync(HttpMethod.Put, "v1/templates/x", ApiProbe.Json("""{"name":"y"}"""), 422, "invalid");
        ApiProbe.AssertNamesField(p, "name");
        Assert.Contains("'y'", p.Detail, StringComparison.Ordinal);
        await ApiProbe.ApiErrorAsync(() => fx.Client.GetTemplateAsync("x"), 404, "not-found");
        await ApiProbe.ApiErrorAsync(() => fx.Client.GetTemplateAsync("y"), 404, "not-found");
    }

    [Fact]
    public async Task BadExecRequestsNameTheirFields()
    {
        ApiProbe.AssertNamesField(await PostJsonAsync("v1/sandboxes/s1/exec", """{"argv":[]}""", 422, "invalid"), "argv");
        ApiProbe.AssertNamesField(await PostJsonAsync("v1/sandboxes/s1/exec", """{"argv":["true",""]}""", 422, "invalid"), "argv");
        ApiProbe.AssertNamesField(await PostJsonAsync("v1/sandboxes/s1/exec", """{"argv":["true"],"timeoutMs":0}""", 422, "invalid"), "timeoutMs");
        ApiProbe.AssertNamesField(await PostJsonAsync("v1/sandboxes/s1/exec", """{"argv":["true"],"outputLimit":-5}""", 422, "invalid"), "outputLimit");
        ApiProbe.AssertNamesField(await SendAsync(HttpMethod.Get, "v1/sandboxes/s1/files", null, 422, "invalid"), "path");
        ApiProbe.AssertNamesField(await SendAsync(HttpMethod.Put, "v1/sandboxes/s1/files?path=f&mode=999", new ByteArrayContent([1]), 422, "invalid"), "mode");
    }

    [Fact]
    public async Task AWrongContentTypeCreatesNothing()
    {
        // Whatever the status (see the next test), a text/plain body is never acted on.
        using var r = await fx.Http.PostAsync("v1/sandboxes", new StringContent(ApiProbe.SandboxBody("s1"), Encoding.UTF8, "text/plain"));
        Assert.True((int)r.StatusCode is >= 400 and < 500, $"HTTP {(int)r.StatusCode}");
        Assert.NotEqual("ok", ApiProbe.Record(D, ApiProbe.Seq(r)).Outcome);
        await AssertNothingCreatedAsync();
    }

    [Fact]
    public async Task AWrongContentTypeIsAnInvalidRequestProblem()
    {
        var p = await SendAsync(HttpMethod.Post, "v1/sandboxes", new StringContent(ApiProbe.SandboxBody("s1"), Encoding.UTF8, "text/plain"), 400, "invalid-request");
        Assert.Contains("text/plain", p.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnUnknownEndpointIsANotFoundProblem()
    {
        await SendAsync(HttpMethod.Get, "v1/nothing", null, 404, "not-found");
        await SendAsync(HttpMethod.Post, "v1/sandboxes/s1/nothing", ApiProbe.Json("{}"), 404, "not-found");
        await SendAsync(HttpMethod.Get, "v2/sandboxes", null, 404, "not-found");
        var wrongMethod = await SendAsync(HttpMethod.Put, "v1/sandboxes", ApiProbe.Json(ApiProbe.SandboxBody("s1")), 404, "not-found");
        Assert.Contains("PUT /v1/sandboxes", wrongMethod.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NullForARequiredObjectIsABadRequestNotAnInternalError()
    {
        foreach (var (path, json) in new[]
        {
            ("v1/claims", """{"name":"c1","spec":{"sandboxTemplateRef":{"name":"shell"},"lifecycle":null}}"""),
            ("v1/claims", """{"name":"c1","spec":{"sandboxTemplateRef":{"name":"shell"},"env":null}}"""),
            ("v1/run", """{"sandboxTemplateRef":{"name":"shell"},"exec":null}"""),
        })
        {
            using var r = await fx.Http.PostAsync(path, ApiProbe.Json(json));
            var body = await r.Content.ReadAsStringAsync();
            Assert.True((int)r.StatusCode is 400 or 422, $"{path} {json}: HTTP {(int)r.StatusCode} {body}");
            await AssertNothingCreatedAsync();
        }
    }

    /// <summary>A body stream of unknown length, so the request goes out chunked.</summary>
    private sealed class NonSeekable(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
    }
}
