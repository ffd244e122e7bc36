using System.Diagnostics;
using System.Globalization;
using Airlock.Client;
using Airlock.Core.Backends;
using Airlock.Core.Control;

// Control-plane benchmark against a running daemon (bench/controlplane.sh starts one):
//   1. claim from a warm pool -> first exec result, p50/p99 (quiet: the pool is full before each claim;
//      back-to-back: the next claim as soon as one member is ready), against a cold claim (no pool) in the same run;
//   2. creation throughput: a pool scaled from 0 to N, time until N are ready (sandboxes/s), and the same with
//      claims consuming the pool while it refills;
//   3. end to end through the CLI (process start included): `airlock run -- true` through the daemon with a warm
//      pool, against embedded `airlock run -- true` (cold) in the same run.
var host = Environment.GetEnvironmentVariable("AIRLOCK_HOST")!;
var token = Environment.GetEnvironmentVariable("AIRLOCK_TOKEN")!;
var claims = int.Parse(Environment.GetEnvironmentVariable("CLAIMS") ?? "200", CultureInfo.InvariantCulture);
var cold = int.Parse(Environment.GetEnvironmentVariable("COLD") ?? "30", CultureInfo.InvariantCulture);
var fill = int.Parse(Environment.GetEnvironmentVariable("FILL") ?? "100", CultureInfo.InvariantCulture);
var cliRuns = int.Parse(Environment.GetEnvironmentVariable("CLI_RUNS") ?? "50", CultureInfo.InvariantCulture);
var cli = Environment.GetEnvironmentVariable("AIRLOCK_CLI");
using var c = new AirlockClient(host, token);
var rows = new List<string>();

async Task WaitReady(string pool, int n)
{
    // Polls every 10 ms: each poll is an audited API call, and polling harder would load the daemon being measured.
    while ((await c.GetPoolAsync(pool)).Status.ReadyReplicas < n)
    {
        await Task.Delay(10);
    }
}

var claimPart = new List<double>();
var execPart = new List<double>();
async Task<double> ClaimOnce(string name, SandboxClaimSpec spec)
{
    var sw = Stopwatch.StartNew();
    await c.CreateClaimAsync(new CreateClaimRequest(name, spec));
    var claimed = sw.Elapsed.TotalMilliseconds;
    var r = await c.ExecAsync(name, new ExecSpec(["true"]), ExecIo.Null);
    var ms = sw.Elapsed.TotalMilliseconds;
    claimPart.Add(claimed);
    execPart.Add(ms - claimed);
    if (r.ExitCode != 0)
    {
        throw new InvalidOperationException("exec failed");
    }
    return ms;
}

static double Pct(List<double> xs, double p)
{
    var s = xs.Order().ToList();
    return s[Math.Clamp((int)Math.Ceiling(p / 100 * s.Count) - 1, 0, s.Count - 1)];
}

string Row(string name, List<double> xs, string? note = null) =>
    $"| {name} | {xs.Count} | {Pct(xs, 50):0.00} | {Pct(xs, 99):0.00} | {xs.Min():0.00} | {note ?? ""} |";

// ---------------------------------------------------------------- 1. claim -> first exec result
const int Replicas = 4;
await c.ApplyPoolAsync("bench", new SandboxWarmPoolSpec { Replicas = Replicas, SandboxTemplateRef = new NameRef("shell") });
await WaitReady("bench", Replicas);
var warmSpec = new SandboxClaimSpec { WarmPoolRef = new NameRef("bench") };
for (var i = 0; i < 10; i++)
{
    await ClaimOnce($"warmup-{i}", warmSpec);
    await c.DeleteClaimAsync($"warmup-{i}");
    await WaitReady("bench", Replicas);
}
var quiet = new List<double>();
claimPart.Clear();
execPart.Clear();
for (var i = 0; i < claims; i++)
{
    quiet.Add(await ClaimOnce($"q-{i}", warmSpec));
    await c.DeleteClaimAsync($"q-{i}");
    await WaitReady("bench", Replicas);
}
var quietClaim = claimPart.ToList();
var quietExec = execPart.ToList();
Console.Error.WriteLine($"[bench] warm quiet: p50 {Pct(quiet, 50):0.00} ms");
var busy = new List<double>();
for (var i = 0; i < claims; i++)
{
    await WaitReady("bench", 1);
    busy.Add(await ClaimOnce($"b-{i}", warmSpec));
    _ = c.DeleteClaimAsync($"b-{i}");
}
await WaitReady("bench", Replicas);
foreach (var cl in await c.ListClaimsAsync())
{
    await c.DeleteClaimAsync(cl.Name);
}
Console.Error.WriteLine($"[bench] warm back-to-back: p50 {Pct(busy, 50):0.00} ms");
var coldMs = new List<double>();
var coldSpec = new SandboxClaimSpec { SandboxTemplateRef = new NameRef("shell") };
for (var i = 0; i < cold; i++)
{
    coldMs.Add(await ClaimOnce($"c-{i}", coldSpec));
    await c.DeleteClaimAsync($"c-{i}");
}
Console.Error.WriteLine($"[bench] cold: p50 {Pct(coldMs, 50):0.00} ms");
await c.DeletePoolAsync("bench");
rows.Add("| case | n | p50 ms | p99 ms | min ms | note |");
rows.Add("|---|---|---|---|---|---|");
rows.Add(Row("claim→result, warm pool, quiet", quiet, $"ratio to cold p50: {Pct(quiet, 50) / Pct(coldMs, 50):0.000}"));
rows.Add(Row("  of which: claim answered", quietClaim, "POST /v1/claims (adoption, store commit, audit commit)"));
rows.Add(Row("  of which: first exec result", quietExec, "POST /v1/sandboxes/{name}/exec `true`, streamed, audit commit"));
rows.Add(Row("claim→result, warm pool, back-to-back", busy, "pool refilling while claims run"));
rows.Add(Row("claim→result, cold (no pool)", coldMs, "peer: the same claim without a warm pool"));

// ---------------------------------------------------------------- 2. creation throughput
await c.ApplyPoolAsync("fill", new SandboxWarmPoolSpec { Replicas = 0, SandboxTemplateRef = new NameRef("shell") });
var fillWatch = Stopwatch.StartNew();
await c.ApplyPoolAsync("fill", new SandboxWarmPoolSpec { Replicas = fill, SandboxTemplateRef = new NameRef("shell") });
await WaitReady("fill", fill);
var fillRate = fill / fillWatch.Elapsed.TotalSeconds;
Console.Error.WriteLine($"[bench] pool fill: {fill} in {fillWatch.Elapsed.TotalSeconds:0.00} s = {fillRate:0.0}/s");
// Sustained, steady state: claims take members as fast as they are ready and each claim is deleted right away
// (its sandbox torn down), so the machine creates and destroys at the same rate and the number of live sandboxes
// stays at the pool size. New sandboxes/s = members the pool had to start during the window.
var churnWatch = Stopwatch.StartNew();
var churned = 0;
var deletes = new List<Task>();
while (churnWatch.Elapsed < TimeSpan.FromSeconds(10))
{
    var p = await c.GetPoolAsync("fill");
    if (p.Status.ReadyReplicas == 0)
    {
        await Task.Delay(10);
        continue;
    }
    var name = $"churn-{churned++}";
    await c.CreateClaimAsync(new CreateClaimRequest(name, new SandboxClaimSpec { WarmPoolRef = new NameRef("fill") }));
    deletes.Add(c.DeleteClaimAsync(name));
    if (deletes.Count(t => !t.IsCompleted) >= 4)
    {
        await Task.WhenAny(deletes.Where(t => !t.IsCompleted));
    }
}
var window = churnWatch.Elapsed.TotalSeconds;
await Task.WhenAll(deletes);
var produced = churned - fill;
var sustained = produced / window;
Console.Error.WriteLine($"[bench] sustained: {churned} claims in 10 s, {produced} new sandboxes = {sustained:0.0}/s");
await c.DeletePoolAsync("fill");
rows.Add("");
rows.Add("| throughput | value |");
rows.Add("|---|---|");
rows.Add($"| pool filled from 0 to {fill} (sandboxes/s) | {fillRate:0.0} |");
rows.Add($"| steady state for 10 s: claims take members as they become ready, each claim deleted at once (create + teardown): new sandboxes/s | {sustained:0.0} ({churned} claims) |");

// ---------------------------------------------------------------- 3. end to end through the CLI
if (cli is not null && cliRuns > 0)
{
    await c.ApplyPoolAsync("shell-pool", new SandboxWarmPoolSpec { Replicas = 2, SandboxTemplateRef = new NameRef("shell") });
    await WaitReady("shell-pool", 2);
    async Task<double> Cli(bool viaDaemon)
    {
        var psi = new ProcessStartInfo(cli, ["run", "--", "true"]) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (!viaDaemon)
        {
            psi.Environment.Remove("AIRLOCK_HOST");
            psi.Environment.Remove("AIRLOCK_TOKEN");
        }
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        await p.WaitForExitAsync();
        var ms = sw.Elapsed.TotalMilliseconds;
        return p.ExitCode == 0 ? ms : throw new InvalidOperationException("airlock run failed: " + await p.StandardError.ReadToEndAsync());
    }
    var viaDaemon = new List<double>();
    var embedded = new List<double>();
    for (var i = 0; i < cliRuns + 3; i++)
    {
        await WaitReady("shell-pool", 2);
        var d = await Cli(true);
        var e = await Cli(false);
        if (i >= 3)
        {
            viaDaemon.Add(d);
            embedded.Add(e);
        }
    }
    await c.DeletePoolAsync("shell-pool");
    rows.Add("");
    rows.Add("| case | n | p50 ms | p99 ms | min ms | note |");
    rows.Add("|---|---|---|---|---|---|");
    rows.Add(Row("`airlock run -- true` via daemon (warm pool)", viaDaemon, $"ratio to embedded p50: {Pct(viaDaemon, 50) / Pct(embedded, 50):0.000}"));
    rows.Add(Row("`airlock run -- true` embedded (cold)", embedded, "peer: the foundation's cold path, same run"));
}
Console.Out.WriteLine(string.Join('\n', rows));
