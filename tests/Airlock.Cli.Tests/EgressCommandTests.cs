using System.Globalization;
using System.Text.Json;

namespace Airlock.Cli.Tests;

/// <summary>
/// Egress through <c>airlock run</c>: a real sandbox, the real in-sandbox forwarder, the real proxy in the CLI
/// process, and a server on the host's 127.0.0.1 that names resolve to only through <c>--resolve</c> pins. Nothing
/// else is contacted: the sandbox has no route, and the proxy allows only pinned loopback names.
/// </summary>
public sealed class EgressCommandTests(AirlockHome home) : IClassFixture<AirlockHome>
{
    private static string P(int port) => port.ToString(CultureInfo.InvariantCulture);

    [Fact]
    public async Task ANoNetworkSandboxReachesNothingEvenIgnoringProxyVariables()
    {
        using var server = new LoopbackServer();
        // The host's loopback server, by address, with and without proxy variables; and the proxy port, which only
        // an egress sandbox has a forwarder on.
        var r = await home.RunAsync("run", "--json", "--", "sh", "-c",
            $"curl -sS --max-time 3 http://127.0.0.1:{P(server.Port)}/ ; echo rc=$?; " +
            $"curl -sS --max-time 3 --noproxy '*' http://127.0.0.1:{P(server.Port)}/ ; echo rc=$?; " +
            $"curl -sS --max-time 3 --proxy http://127.0.0.1:3128 http://api.allowed.test:{P(server.Port)}/ ; echo rc=$?; " +
            "env | grep -i _proxy; echo env-done");
        Assert.True(r.ExitCode == 0, r.ToString());
        var o = JsonDocument.Parse(r.Stdout).RootElement;
        var stdout = o.GetProperty("stdout").GetString()!;
        Assert.Equal(3, stdout.Split('\n').Count(l => l.StartsWith("rc=", StringComparison.Ordinal) && l != "rc=0"));
        Assert.Contains("env-done", stdout);
        Assert.DoesNotContain("_proxy=", stdout, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(0, server.Connections);
    }

    [Fact]
    public async Task AnAllowedDomainWorksOverHttpConnectAndSocks5AndNothingElseDoes()
    {
        using var server = new LoopbackServer();
        var port = P(server.Port);
        var r = await home.RunAsync("run", "--json", "--allow-domain", $"api.allowed.test:{port}", "--resolve", $"api.allowed.test:{port}:127.0.0.1", "--", "sh", "-c",
            $"curl -sS --max-time 5 http://api.allowed.test:{port}/http; echo rc=$?; " +
            $"curl -sS --max-time 5 --proxytunnel http://api.allowed.test:{port}/connect; echo rc=$?; " +
            $"curl -sS --max-time 5 --proxy socks5h://127.0.0.1:3128 http://api.allowed.test:{port}/socks; echo rc=$?; " +
            // Ignoring the proxy: no resolver, no route, and the host's loopback is not the sandbox's.
            $"curl -sS --max-time 3 --noproxy '*' http://api.allowed.test:{port}/bypass; echo rc=$?; " +
            $"curl -sS --max-time 3 --noproxy '*' http://127.0.0.1:{port}/bypass; echo rc=$?; " +
            // Not allowed: another name, another port of the allowed name, a private IP literal, metadata.
            $"curl -sS --max-time 5 -o /dev/null -w '%{{http_code}}\\n' http://other.allowed.test:{port}/; " +
            $"curl -sS --max-time 5 -o /dev/null -w '%{{http_code}}\\n' http://api.allowed.test:1/; " +
            $"curl -sS --max-time 5 -o /dev/null -w '%{{http_code}}\\n' http://10.0.0.1:{port}/; " +
            "curl -sS --max-time 5 -o /dev/null -w '%{http_code}\\n' http://169.254.169.254/latest/meta-data/");
        Assert.True(r.ExitCode == 0, r.ToString());
        var stdout = JsonDocument.Parse(r.Stdout).RootElement.GetProperty("stdout").GetString()!;
        var lines = stdout.Split('\n');
        Assert.Equal(3, lines.Count(l => l == "hello from loopback"));
        Assert.Equal(["rc=0", "rc=0", "rc=0"], lines.Where(l => l.StartsWith("rc=", StringComparison.Ordinal)).Take(3));
        Assert.Equal(2, lines.Where(l => l.StartsWith("rc=", StringComparison.Ordinal)).Skip(3).Count(l => l != "rc=0"));
        Assert.Equal(4, lines.Count(l => l == "403"));
        var paths = server.Requests.Select(h => h.Split(' ')[1]).ToList();
        Assert.Equal(["/connect", "/http", "/socks"], paths.Order(StringComparer.Ordinal));
        Assert.Equal(3, server.Connections);
    }

    [Fact]
    public async Task RefusedConnectionsAreNamedOnStderrWithTheirRule()
    {
        using var server = new LoopbackServer();
        var port = P(server.Port);
        var r = await home.RunAsync("run", "--allow-domain", "api.allowed.test", "--resolve", $"api.allowed.test:{port}:127.0.0.1", "--", "sh", "-c",
            $"curl -s -o /dev/null http://evil.test/; curl -s -o /dev/null http://10.0.0.1:{port}/");
        Assert.Contains(r.StderrLines, l => l.StartsWith("airlock: egress denied: http evil.test:80 [no-allow-rule]", StringComparison.Ordinal));
        Assert.Contains(r.StderrLines, l => l.StartsWith($"airlock: egress denied: http 10.0.0.1:{port} [default-deny:private]", StringComparison.Ordinal));
    }

    [Fact]
    public async Task BadNetworkFlagsNameTheFieldAndCreateNothing()
    {
        var r = await home.RunAsync("run", "--resolve", "api.allowed.test:notaport:127.0.0.1", "--", "true");
        Assert.Equal(125, r.ExitCode);
        Assert.Contains("--resolve", r.Stderr);
        r = await home.RunAsync("run", "--allow-domain", "Bad_Domain!", "--", "true");
        Assert.Equal(125, r.ExitCode);
        Assert.Contains("network.allow[0].domain", r.Stderr);
        Assert.Empty(home.SandboxDirs());
    }

    [Fact]
    public async Task ASecretReachesOnlyItsDomainAndNeverTheSandbox()
    {
        using var server = new LoopbackServer();
        var port = P(server.Port);
        const string value = "ghp_s3cr3t-value-never-inside-4f9a";
        var template = Path.Combine(home.Path, "secret.yaml");
        await File.WriteAllTextAsync(template, $"""
            name: secret-egress
            network:
              mode: egress
              allow:
                - domain: api.allowed.test
                - domain: other.allowed.test
              resolve:
                - {"{"} host: api.allowed.test, port: {port}, address: 127.0.0.1 {"}"}
                - {"{"} host: other.allowed.test, port: {port}, address: 127.0.0.1 {"}"}
              secrets:
                - name: github
                  env: GITHUB_TOKEN
                  fromEnv: TEST_AIRLOCK_GITHUB_TOKEN
                  domains: [api.allowed.test]
            """);
        var r = await home.RunAsync(["run", "--json", "-t", template, "--", "sh", "-c",
            "echo \"token=$GITHUB_TOKEN\"; " +
            $"curl -sS -H \"Authorization: Bearer $GITHUB_TOKEN\" http://api.allowed.test:{port}/right; " +
            $"curl -sS -H \"Authorization: Bearer $GITHUB_TOKEN\" http://other.allowed.test:{port}/wrong; " +
            // Everything the sandbox can read: its environment, its files, its processes' memory maps and args.
            "for f in /proc/*/environ /proc/*/cmdline; do cat $f 2>/dev/null; done | tr '\\0' '\\n' > /tmp/proc.txt; " +
            "grep -rl \"$(printf 'ghp_s3%s' 'cr3t')\" /proc/self/environ /tmp /workspace /etc /.airlock 2>/dev/null; echo grep-done"],
            env: new Dictionary<string, string> { ["TEST_AIRLOCK_GITHUB_TOKEN"] = value });
        Assert.True(r.ExitCode == 0, r.ToString());
        var stdout = JsonDocument.Parse(r.Stdout).RootElement.GetProperty("stdout").GetString()!;
        Assert.Contains("token=airlock-secret:github", stdout);
        Assert.DoesNotContain(value, stdout);
        Assert.Contains("grep-done", stdout);
        Assert.DoesNotContain("/tmp/proc.txt", stdout);
        var right = Assert.Single(server.Requests, h => h.StartsWith("GET /right", StringComparison.Ordinal));
        Assert.Contains($"Authorization: Bearer {value}\r\n", right);
        var wrong = Assert.Single(server.Requests, h => h.StartsWith("GET /wrong", StringComparison.Ordinal));
        Assert.Contains("Authorization: Bearer airlock-secret:github\r\n", wrong);
        Assert.DoesNotContain(value, wrong);
        Assert.Contains(r.StderrLines, l => l.Contains("possible exfiltration", StringComparison.Ordinal) && l.Contains("other.allowed.test", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AMissingSecretValueIsNamedAndNothingIsLeftBehind()
    {
        var template = Path.Combine(home.Path, "missing-secret.yaml");
        await File.WriteAllTextAsync(template, """
            name: missing-secret
            network:
              mode: egress
              allow: [{ domain: api.allowed.test }]
              secrets:
                - { name: github, env: GITHUB_TOKEN, fromEnv: TEST_AIRLOCK_UNSET_TOKEN, domains: [api.allowed.test] }
            """);
        var r = await home.RunAsync("run", "-t", template, "--", "true");
        Assert.Equal(125, r.ExitCode);
        Assert.Contains("network.secrets[0].fromEnv", r.Stderr);
        Assert.Contains("TEST_AIRLOCK_UNSET_TOKEN", r.Stderr);
        Assert.Empty(home.SandboxDirs());
    }

    [Fact]
    public async Task TerminatedTlsInjectsTheSecretAndTheSandboxTrustsOnlyItsOwnCa()
    {
        using var server = new LoopbackServer(tls: true);
        var port = P(server.Port);
        var upstreamCa = Path.Combine(home.Path, "upstream-ca.pem");
        await File.WriteAllTextAsync(upstreamCa, server.CertificatePem);
        const string value = "tls-s3cr3t-value-7c1d";
        var template = Path.Combine(home.Path, "tls.yaml");
        await File.WriteAllTextAsync(template, $"""
            name: tls-egress
            network:
              mode: egress
              terminateTls: true
              allow: [{"{"} domain: api.allowed.test {"}"}, {"{"} domain: other.allowed.test {"}"}]
              resolve:
                - {"{"} host: api.allowed.test, port: {port}, address: 127.0.0.1 {"}"}
                - {"{"} host: other.allowed.test, port: {port}, address: 127.0.0.1 {"}"}
              secrets:
                - {"{"} name: api, env: API_TOKEN, fromEnv: TEST_AIRLOCK_API_TOKEN, domains: [api.allowed.test] {"}"}
            """);
        var r = await home.RunAsync(["run", "--json", "-t", template, "--", "sh", "-c",
            $"curl -sS -H \"X-Api-Key: $API_TOKEN\" https://api.allowed.test:{port}/right; echo rc=$?; " +
            $"curl -sS -H \"X-Api-Key: $API_TOKEN\" https://other.allowed.test:{port}/wrong; echo rc=$?; " +
            // The sandbox's CA signs what the proxy presents; the server's own certificate is not what it sees.
            $"curl -sS --cacert /dev/null https://api.allowed.test:{port}/untrusted; echo rc=$?; " +
            "grep -c 'BEGIN CERTIFICATE' $SSL_CERT_FILE"],
            env: new Dictionary<string, string> { ["TEST_AIRLOCK_API_TOKEN"] = value, ["AIRLOCK_EGRESS_CA_FILE"] = upstreamCa });
        Assert.True(r.ExitCode == 0, r.ToString());
        var stdout = JsonDocument.Parse(r.Stdout).RootElement.GetProperty("stdout").GetString()!;
        var lines = stdout.Split('\n');
        Assert.Equal(["rc=0", "rc=0"], lines.Where(l => l.StartsWith("rc=", StringComparison.Ordinal)).Take(2));
        Assert.NotEqual("rc=0", lines.Where(l => l.StartsWith("rc=", StringComparison.Ordinal)).ElementAt(2));
        Assert.Equal("1", lines.Last(l => l.Length > 0));
        var right = Assert.Single(server.Requests, h => h.StartsWith("GET /right", StringComparison.Ordinal));
        Assert.Contains($"X-Api-Key: {value}\r\n", right);
        var wrong = Assert.Single(server.Requests, h => h.StartsWith("GET /wrong", StringComparison.Ordinal));
        Assert.Contains("X-Api-Key: airlock-secret:api\r\n", wrong);
        Assert.DoesNotContain(server.Requests, h => h.Contains("/untrusted", StringComparison.Ordinal));
    }
}
