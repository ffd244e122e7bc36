using System.Globalization;
using System.Text.Json;
using Airlock.Cli.Tests;
using Airlock.ControlPlane.Audit;
using Airlock.ControlPlane.Store;
using Airlock.Core.Control;

namespace Airlock.Server.Tests;

/// <summary>Egress of daemon-managed sandboxes: the daemon runs each sandbox's proxy, audits every connection under
/// the sandbox's tenant and name, shows the policy in <c>sandbox inspect</c>, and restarts the proxies of the
/// sandboxes it adopts after a restart. Only a server on 127.0.0.1, reached through pins, is contacted.</summary>
public sealed class EgressTests
{
    private static List<AuditRecord> Egress(Daemon d)
    {
        using var store = new ControlStore(d.DataDir, readOnly: true);
        return store.Locked(db => AuditLog.Read(db)).Where(r => r.Action.StartsWith("egress.", StringComparison.Ordinal)).ToList();
    }

    [Fact]
    public async Task ConnectionsAreAuditedShownAndSurviveARestart()
    {
        using var server = new LoopbackServer();
        var port = server.Port.ToString(CultureInfo.InvariantCulture);
        await using var d = await Daemon.StartAsync();
        var token = await d.TokenAsync("acme");
        var created = await d.RunCliAsync(["sandbox", "create", "--name", "web", "--allow-domain", $"api.allowed.test:{port}",
            "--resolve", $"api.allowed.test:{port}:127.0.0.1"], token);
        Assert.True(created.ExitCode == 0, created.ToString());

        var inspect = await d.RunCliAsync(["sandbox", "inspect", "web"], token);
        Assert.True(inspect.ExitCode == 0, inspect.ToString());
        var network = JsonDocument.Parse(inspect.Stdout).RootElement.GetProperty("status").GetProperty("network");
        Assert.Equal("egress", network.GetProperty("mode").GetString());
        Assert.Equal("api.allowed.test", network.GetProperty("allow")[0].GetProperty("domain").GetString());
        Assert.Equal(server.Port, network.GetProperty("resolve")[0].GetProperty("port").GetInt32());

        const string script = "curl -sS --max-time 5 http://api.allowed.test:{0}/ok; curl -s -o /dev/null -w '%{{http_code}}\\n' http://evil.test/";
        var exec = await d.RunCliAsync(["sandbox", "exec", "web", "--", "sh", "-c", string.Format(CultureInfo.InvariantCulture, script, port)], token);
        Assert.Equal((0, "hello from loopback\n403\n"), (exec.ExitCode, exec.Stdout));

        await Daemon.EventuallyAsync(() => Task.FromResult(Egress(d).Count >= 2), "two egress audit records");
        var records = Egress(d);
        var allowed = Assert.Single(records, r => r.Decision == "allowed");
        Assert.Equal(("acme", "egress.connect", "web", "pin"), (allowed.Tenant, allowed.Action, allowed.Target, allowed.Rule));
        var detail = JsonDocument.Parse(allowed.Detail).RootElement;
        Assert.Equal("api.allowed.test", detail.GetProperty("host").GetString());
        Assert.Equal(server.Port, detail.GetProperty("port").GetInt32());
        Assert.Equal("127.0.0.1", detail.GetProperty("address").GetString());
        Assert.True(detail.GetProperty("bytesDown").GetInt64() > 0);
        Assert.True(detail.GetProperty("bytesUp").GetInt64() > 0);
        var denied = Assert.Single(records, r => r.Decision == "denied");
        Assert.Equal(("acme", "web", "no-allow-rule"), (denied.Tenant, denied.Target, denied.Rule));
        Assert.Equal("evil.test", JsonDocument.Parse(denied.Detail).RootElement.GetProperty("host").GetString());

        var tail = await d.RunCliAsync(["audit", "tail", "--data-dir", d.DataDir, "--kind", "egress", "--json"]);
        Assert.True(tail.ExitCode == 0, tail.ToString());
        var lines = tail.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.All(lines, l => Assert.StartsWith("egress.", JsonDocument.Parse(l).RootElement.GetProperty("action").GetString()));

        // A new daemon adopts the sandbox and starts its proxy again.
        await d.StopAsync();
        await d.StartProcessAsync();
        exec = await d.RunCliAsync(["sandbox", "exec", "web", "--", "sh", "-c", string.Format(CultureInfo.InvariantCulture, script, port)], token);
        Assert.Equal((0, "hello from loopback\n403\n"), (exec.ExitCode, exec.Stdout));

        // An ephemeral run through the daemon is audited under its tenant too.
        var run = await d.RunCliAsync(["run", "--allow-domain", $"api.allowed.test:{port}", "--resolve", $"api.allowed.test:{port}:127.0.0.1",
            "--", "curl", "-sS", $"http://api.allowed.test:{port}/run"], token);
        Assert.Equal((0, "hello from loopback\n"), (run.ExitCode, run.Stdout));
        await Daemon.EventuallyAsync(() => Task.FromResult(Egress(d).Any(r => r.Target.StartsWith("sbx-", StringComparison.Ordinal))), "the run's egress record");
        Assert.Equal("acme", Egress(d).Single(r => r.Target.StartsWith("sbx-", StringComparison.Ordinal)).Tenant);
        Assert.Equal(0, (await d.RunCliAsync(["sandbox", "rm", "web"], token)).ExitCode);
    }

    [Fact]
    public async Task AnEgressTemplateWithoutADaemonIsRefusedForLongLivedSandboxes()
    {
        await using var d = await Daemon.StartAsync();
        // No token: the CLI works on its own, and a sandbox outliving the command would outlive its proxy.
        var r = await d.RunCliAsync(["sandbox", "create", "--allow-domain", "api.allowed.test"]);
        Assert.Equal(125, r.ExitCode);
        Assert.Contains("network.mode", r.Stderr);
        Assert.Contains("airlock serve", r.Stderr);
    }
}
