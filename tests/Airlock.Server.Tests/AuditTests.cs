using System.Globalization;
using System.Text.Json;
using Airlock.ControlPlane.Audit;
using Airlock.Core.Backends;
using Airlock.Core.Control;
using Microsoft.Data.Sqlite;

namespace Airlock.Server.Tests;

/// <summary>The hash-chained audit log as a user meets it: what the API acknowledges is in the log, and
/// <c>airlock audit verify</c> finds tampering.</summary>
public sealed class AuditTests
{
    private static Task<Run> VerifyAsync(Daemon d, string dataDir) => d.RunCliAsync(["audit", "verify", "--data-dir", dataDir]);

    /// <summary>A copy of the (stopped) daemon's store in a fresh directory under its data directory.</summary>
    private static string CopyStore(Daemon d, string name)
    {
        var dir = Path.Combine(d.DataDir, "tamper-" + name);
        Directory.CreateDirectory(dir);
        foreach (var suffix in new[] { "", "-wal", "-shm" })
        {
            var src = Path.Combine(d.DataDir, "airlock.db" + suffix);
            if (File.Exists(src))
            {
                File.Copy(src, Path.Combine(dir, "airlock.db" + suffix));
            }
        }
        return dir;
    }

    private static void Tamper(string dir, Action<SqliteConnection> body)
    {
        using var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(dir, "airlock.db"), Pooling = false }.ToString());
        db.Open();
        body(db);
    }

    private static int Sql(SqliteConnection db, string sql, params (string Name, object Value)[] args)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (n, v) in args)
        {
            cmd.Parameters.AddWithValue(n, v);
        }
        return cmd.ExecuteNonQuery();
    }

    /// <summary>Overwrites every column but seq of row <paramref name="seq"/> with <paramref name="r"/>'s values.</summary>
    private static void Overwrite(SqliteConnection db, long seq, AuditRecord r) => Assert.Equal(1, Sql(db, """
        UPDATE audit SET time = $time, tenant = $tenant, token_id = $token, action = $action, target = $target,
            decision = $decision, rule = $rule, outcome = $outcome, duration_ms = $dur, detail = $detail,
            prev_hash = $prev, hash = $hash WHERE seq = $seq
        """,
        ("$seq", seq), ("$time", r.Time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture)),
        ("$tenant", r.Tenant), ("$token", r.TokenId), ("$action", r.Action), ("$target", r.Target), ("$decision", r.Decision),
        ("$rule", r.Rule), ("$outcome", r.Outcome), ("$dur", r.DurationMs), ("$detail", r.Detail), ("$prev", r.PrevHash), ("$hash", r.Hash)));

    private static void AssertBrokenAt(Run r, long seq, string why)
    {
        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.True(r.Stdout.StartsWith($"audit log BROKEN at record {seq}: ", StringComparison.Ordinal), r.ToString());
        Assert.Contains(why, r.Stdout, StringComparison.Ordinal);
        Assert.Contains("tampered", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyFindsEditsDeletionsAndReorderingOfAStoppedDaemonsLog()
    {
        await using var d = await Daemon.StartAsync();
        using (var c = await d.TenantAsync("acme"))
        {
            await c.CreateSandboxAsync("s1", new SandboxSpec { SandboxTemplateRef = new NameRef("shell") });
            Assert.Equal(3, (await ApiProbe.ExecAsync(c, "s1", "sh", "-c", "exit 3")).Exit);
            await c.GetSandboxAsync("s1");
            await c.ListSandboxesAsync();
            await ApiProbe.ApiErrorAsync(() => c.GetSandboxAsync("nope"), 404, "not-found");
            await c.ListClaimsAsync();
            await c.ListPoolsAsync();
            await c.ListTemplatesAsync();
            await c.DeleteSandboxAsync("s1");
            await c.EventsAsync();
        }
        await d.StopAsync();

        var records = ApiProbe.Audit(d.DataDir);
        var n = records.Count;
        Assert.Equal(["daemon.start", "token.create", "sandbox.create", "sandbox.exec", "sandbox.get", "sandbox.list", "sandbox.get", "claim.list",
            "pool.list", "template.list", "sandbox.delete", "audit.events"], records.Select(r => r.Action));
        var ok = await VerifyAsync(d, d.DataDir);
        Assert.True(ok.ExitCode == 0, ok.ToString());
        Assert.Equal($"audit log intact: {n} records\n", ok.Stdout);

        var exec = records.Single(r => r.Action == "sandbox.exec");
        Assert.Equal("exit:3", exec.Outcome);
        var k = exec.Seq; // a record in the middle of the chain
        Assert.InRange(k, 2, n - 2);

        // (a) An edit of one field: that record no longer matches its hash.
        var edited = CopyStore(d, "edit");
        Tamper(edited, db => Assert.Equal(1, Sql(db, "UPDATE audit SET outcome = 'exit:0' WHERE seq = $k", ("$k", k))));
        AssertBrokenAt(await VerifyAsync(d, edited), k, "altered");

        // (b) An edit with the record's hash recomputed: the record is self-consistent, its successor's prev_hash is not.
        var rehashed = CopyStore(d, "rehash");
        Tamper(rehashed, db =>
        {
            var r = AuditLog.Read(db, k - 1, 1).Single() with { Outcome = "exit:0" };
            r = r with { Hash = AuditLog.ComputeHash(r) };
            Overwrite(db, k, r);
        });
        AssertBrokenAt(await VerifyAsync(d, rehashed), k + 1, "does not follow");

        // (c) A deleted record in the middle: named as missing.
        var deleted = CopyStore(d, "delete");
        Tamper(deleted, db => Assert.Equal(1, Sql(db, "DELETE FROM audit WHERE seq = $k", ("$k", k))));
        AssertBrokenAt(await VerifyAsync(d, deleted), k, "missing");

        // (d) Two records swapped (their contents trade seq numbers): broken at the first of them.
        var swapped = CopyStore(d, "swap");
        Tamper(swapped, db =>
        {
            var pair = AuditLog.Read(db, k - 1, 2);
            Overwrite(db, k, pair[1]);
            Overwrite(db, k + 1, pair[0]);
        });
        AssertBrokenAt(await VerifyAsync(d, swapped), k, "does not follow");

        // (e) The last record deleted. A hash chain alone cannot see this: every remaining link is intact and nothing
        // records how long the chain was (that would need the head hash kept elsewhere, e.g. an exported copy or a
        // signed checkpoint). Verify honestly reports an intact log of one record fewer.
        var truncated = CopyStore(d, "truncate");
        Tamper(truncated, db => Assert.Equal(1, Sql(db, "DELETE FROM audit WHERE seq = $n", ("$n", (long)n))));
        var t = await VerifyAsync(d, truncated);
        Assert.True(t.ExitCode == 0, t.ToString());
        Assert.Equal($"audit log intact: {n - 1} records\n", t.Stdout);

        // The original is untouched by all this.
        Assert.Equal($"audit log intact: {n} records\n", (await VerifyAsync(d, d.DataDir)).Stdout);

        // A directory without a store is an error, not an intact empty log.
        var empty = Path.Combine(d.DataDir, "empty");
        Directory.CreateDirectory(empty);
        var none = await VerifyAsync(d, empty);
        Assert.True(none.ExitCode == 125, none.ToString());
        Assert.DoesNotContain("intact", none.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EveryAcknowledgedCallIsDurablyInTheLogInOrder()
    {
        await using var d = await Daemon.StartAsync();
        var token = await d.TokenAsync("acme");
        var tokenId = ApiProbe.TokenId(token);
        using var c = d.Client(token);
        var acked = new List<(long Seq, string Action, string Target, string Outcome)>();

        // Read right after each answer (through a separate read-only connection): the record was committed before
        // the caller heard back.
        void Acked(long seq, string action, string target, string outcome)
        {
            var r = ApiProbe.Record(d, seq);
            Assert.True((r.Action, r.Target, r.Outcome, r.Tenant, r.TokenId) == (action, target, outcome, "acme", tokenId),
                $"record {seq}: {r.Action} {r.Target} {r.Outcome} {r.Tenant} {r.TokenId}; expected {action} {target} {outcome} acme {tokenId}");
            Assert.Equal("allowed", r.Decision);
            if (acked.Count > 0)
            {
                Assert.True(seq > acked[^1].Seq, $"seq {seq} after {acked[^1].Seq}");
            }
            acked.Add((seq, action, target, outcome));
        }

        await c.CreateSandboxAsync("s1", new SandboxSpec { SandboxTemplateRef = new NameRef("shell") });
        Acked(c.LastAuditSeq!.Value, "sandbox.create", "s1", "ok");
        Assert.Equal(3, (await ApiProbe.ExecAsync(c, "s1", "sh", "-c", "exit 3")).Exit);
        Acked(c.LastAuditSeq!.Value, "sandbox.exec", "s1", "exit:3");
        Assert.Equal("hi\n", (await ApiProbe.ExecAsync(c, "s1", "echo", "hi")).Out);
        Acked(c.LastAuditSeq!.Value, "sandbox.exec", "s1", "exit:0");
        await c.GetSandboxAsync("s1");
        Acked(c.LastAuditSeq!.Value, "sandbox.get", "s1", "ok");
        await c.ListSandboxesAsync();
        Acked(c.LastAuditSeq!.Value, "sandbox.list", "/v1/sandboxes", "ok");
        await c.WriteFileAsync("s1", "f.txt", new MemoryStream("data"u8.ToArray()));
        Acked(c.LastAuditSeq!.Value, "file.write", "s1", "ok");
        await c.SuspendAsync("s1");
        Acked(c.LastAuditSeq!.Value, "sandbox.patch", "s1", "ok");
        await c.ResumeAsync("s1");
        Acked(c.LastAuditSeq!.Value, "sandbox.patch", "s1", "ok");
        await ApiProbe.ApiErrorAsync(() => c.GetSandboxAsync("nope"), 404, "not-found");
        Acked(c.LastAuditSeq!.Value, "sandbox.get", "nope", "not-found");

        // Non-streamed exec: the header names the record.
        using (var http = ApiProbe.Http(d, token))
        using (var r = await http.PostAsync("v1/sandboxes/s1/exec?stream=false", ApiProbe.Json("""{"argv":["sh","-c","exit 5"]}""")))
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, r.StatusCode);
            var body = JsonSerializer.Deserialize(await r.Content.ReadAsStringAsync(), ControlJson.Default.ExecResponse)!;
            Assert.Equal(5, body.Result.ExitCode);
            Acked(ApiProbe.Seq(r), "sandbox.exec", "s1", "exit:5");
        }

        await c.CreateClaimAsync(new CreateClaimRequest("c1", new SandboxClaimSpec { SandboxTemplateRef = new NameRef("shell") }));
        Acked(c.LastAuditSeq!.Value, "claim.create", "c1", "ok");
        await c.DeleteClaimAsync("c1");
        Acked(c.LastAuditSeq!.Value, "claim.delete", "c1", "ok");
        var run = await c.RunAsync(new RunRequestBody { SandboxTemplateRef = new NameRef("shell"), Exec = new ExecRequestBody { Argv = ["sh", "-c", "exit 4"] } },
            ExecIo.Capture(new MemoryStream(), new MemoryStream()));
        Assert.Equal(4, run.Result.ExitCode);
        Acked(c.LastAuditSeq!.Value, "sandbox.run", "shell", "exit:4");
        await c.DeleteSandboxAsync("s1");
        Acked(c.LastAuditSeq!.Value, "sandbox.delete", "s1", "ok");

        // The whole log: seq 1..N with no gaps, each record linked to the one before and matching its own hash.
        var all = ApiProbe.Audit(d.DataDir);
        Assert.Equal(Enumerable.Range(1, all.Count).Select(i => (long)i), all.Select(r => r.Seq));
        Assert.Equal(AuditLog.Genesis, all[0].PrevHash);
        for (var i = 0; i < all.Count; i++)
        {
            Assert.Equal(AuditLog.ComputeHash(all[i]), all[i].Hash);
            if (i > 0)
            {
                Assert.Equal(all[i - 1].Hash, all[i].PrevHash);
                Assert.True(all[i].Time >= all[i - 1].Time, $"record {all[i].Seq} is older than its predecessor");
            }
        }
        Assert.Equal(all.Count, all.Select(r => r.Hash).Distinct().Count());
        Assert.Equal(acked.Count, acked.Select(a => a.Seq).Distinct().Count());
        var exec3 = all.Single(r => r.Seq == acked[1].Seq);
        Assert.Contains("argv0=sh", exec3.Detail, StringComparison.Ordinal);
        Assert.True(exec3.DurationMs > 0, "the exec's duration was recorded");
        var v = await VerifyAsync(d, d.DataDir);
        Assert.True(v.ExitCode == 0, v.ToString());
    }

    [Fact]
    public async Task AnExecWhoseClientGoesAwayIsStillAudited()
    {
        await using var d = await Daemon.StartAsync();
        var token = await d.TokenAsync("acme");
        using var c = d.Client(token);
        await c.CreateSandboxAsync("s1", new SandboxSpec { SandboxTemplateRef = new NameRef("shell") });
        var before = ApiProbe.Audit(d.DataDir).Count(r => r.Action == "sandbox.exec");

        // Silent (nothing streamed yet) and streaming: both ran, so both must be on record.
        foreach (var script in new[] { "echo quiet > a; sleep 3", "echo loud; echo loud > b; sleep 3" })
        {
            using var http = ApiProbe.Http(d, token);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            {
                using var r = await http.PostAsync("v1/sandboxes/s1/exec", ApiProbe.Json(JsonSerializer.Serialize(new ExecRequestBody { Argv = ["sh", "-c", script] }, ControlJson.Default.ExecRequestBody)), cts.Token);
                await r.Content.ReadAsStringAsync(cts.Token);
            });
        }
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Equal("quiet\nloud\n", (await ApiProbe.ExecAsync(c, "s1", "cat", "a", "b")).Out);
        var execs = ApiProbe.Audit(d.DataDir).Where(r => r.Action == "sandbox.exec").ToList();
        // The two aborted ones, and the cat.
        Assert.Equal(before + 3, execs.Count);
        await c.DeleteSandboxAsync("s1");
    }

    [Fact]
    public async Task TailAndExportPrintTheRecords()
    {
        await using var d = await Daemon.StartAsync();
        using (var c = await d.TenantAsync("acme"))
        {
            await c.ListSandboxesAsync();
            await c.ListClaimsAsync();
            await c.ListPoolsAsync();
            await c.ListTemplatesAsync();
            await ApiProbe.ApiErrorAsync(() => c.GetSandboxAsync("nope"), 404, "not-found");
        }
        using (var anon = ApiProbe.Http(d))
        using (var r = await anon.GetAsync("v1/sandboxes"))
        {
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, r.StatusCode);
        }
        var db = ApiProbe.Audit(d.DataDir);
        Assert.Equal(8, db.Count); // daemon.start, token.create, six calls

        var tail = await d.RunCliAsync(["audit", "tail", "--data-dir", d.DataDir, "-n", "3"]);
        Assert.True(tail.ExitCode == 0, tail.ToString());
        var lines = tail.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.Equal(db.TakeLast(3).Select(r => r.Seq), lines.Select(l => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0], CultureInfo.InvariantCulture)));
        Assert.Contains("sandbox.list", lines[2], StringComparison.Ordinal);
        Assert.Contains("token:missing", lines[2], StringComparison.Ordinal);
        Assert.Contains("sandbox.get", lines[1], StringComparison.Ordinal);

        var json = await d.RunCliAsync(["audit", "tail", "--data-dir", d.DataDir, "-n", "3", "--json"]);
        Assert.True(json.ExitCode == 0, json.ToString());
        var parsed = json.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonSerializer.Deserialize(l, ControlJson.Default.AuditRecord)!).ToList();
        Assert.Equal(db.TakeLast(3), parsed);

        var kind = await d.RunCliAsync(["audit", "tail", "--data-dir", d.DataDir, "-n", "100", "--json", "--kind", "token"]);
        var tokens = kind.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonSerializer.Deserialize(l, ControlJson.Default.AuditRecord)!).ToList();
        Assert.Equal(["token.create"], tokens.Select(r => r.Action));

        // export: every record with its hashes, enough to re-verify the chain elsewhere.
        var export = await d.RunCliAsync(["audit", "export", "--data-dir", d.DataDir]);
        Assert.True(export.ExitCode == 0, export.ToString());
        var exported = export.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonSerializer.Deserialize(l, ControlJson.Default.AuditRecord)!).ToList();
        Assert.Equal(db, exported);
        var prev = AuditLog.Genesis;
        foreach (var r in exported)
        {
            Assert.Equal(prev, r.PrevHash);
            Assert.Equal(r.Hash, AuditLog.ComputeHash(r));
            prev = r.Hash;
        }
        var file = Path.Combine(d.DataDir, "export.jsonl");
        var toFile = await d.RunCliAsync(["audit", "export", "--data-dir", d.DataDir, "-o", file]);
        Assert.True(toFile.ExitCode == 0, toFile.ToString());
        Assert.Equal(export.Stdout, await File.ReadAllTextAsync(file));
    }
}
