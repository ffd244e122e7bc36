using System.Collections.Concurrent;
using System.Globalization;
using Airlock.ControlPlane.Audit;
using Airlock.ControlPlane.Store;
using Airlock.Core.Control;
using Microsoft.Data.Sqlite;

namespace Airlock.ControlPlane.Tests;

/// <summary>A real store (SQLite file, WAL) in a temporary directory, removed afterwards.</summary>
public sealed class TempStore : IDisposable
{
    public string Dir { get; } = Path.Combine(Path.GetTempPath(), "airlock-cp-test-" + Guid.NewGuid().ToString("N")[..8]);
    public ControlStore Store { get; }

    public TempStore() => Store = new ControlStore(Dir);

    public ControlStore Open() => new(Dir);

    public void Dispose()
    {
        Store.Dispose();
        SqliteConnection.ClearAllPools();
        if (Directory.Exists(Dir))
        {
            Directory.Delete(Dir, recursive: true);
        }
    }
}

public sealed class AuditLogTests
{
    private static AuditEntry Entry(string target, string tenant = "acme", string action = "sandbox.exec", double ms = 1.25) =>
        new(tenant, "0123456789ab", action, target, "allowed", "scope:sandbox", "exit:0", ms, "argv0=sh");

    private static int Sql(SqliteConnection db, string sql)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteNonQuery();
    }

    /// <summary>A store holding records 1..<paramref name="n"/> (targets r1..rN).</summary>
    private static TempStore Filled(int n = 10)
    {
        var t = new TempStore();
        t.Store.Locked(db => AuditLog.AppendBatch(db, Enumerable.Range(1, n).Select(i => Entry("r" + i, ms: i * 0.5)).ToList()));
        return t;
    }

    private static AuditBreak? Verify(ControlStore s, out long count)
    {
        long n = 0;
        var b = s.Locked(db => AuditLog.Verify(db, out n));
        count = n;
        return b;
    }

    [Fact]
    public async Task ConcurrentAppendsGetUniqueGaplessSeqsInOneChain()
    {
        using var t = new TempStore();
        var published = new ConcurrentBag<long>();
        var log = new AuditLog(t.Store);
        log.Appended += records => { foreach (var r in records) { published.Add(r.Seq); } };
        var acks = new ConcurrentDictionary<string, long>();
        await Task.WhenAll(Enumerable.Range(0, 20).Select(task => Task.Run(async () =>
        {
            for (var i = 0; i < 25; i++)
            {
                var target = $"{task}-{i}";
                acks[target] = await log.AppendAsync(Entry(target, "tenant" + task));
            }
        })));
        await log.DisposeAsync();

        Assert.Equal(500, acks.Count);
        Assert.Equal(Enumerable.Range(1, 500).Select(i => (long)i), acks.Values.Order());
        Assert.Equal(Enumerable.Range(1, 500).Select(i => (long)i), published.Order());
        var records = t.Store.Locked(db => AuditLog.Read(db));
        // Each caller got the seq of its own record.
        Assert.All(records, r => Assert.Equal(acks[r.Target], r.Seq));
        // Each task's appends are in the order it made them.
        foreach (var group in records.GroupBy(r => r.Tenant))
        {
            Assert.Equal(group.Select(r => r.Seq), group.Select(r => r.Seq).Order());
            Assert.Equal(Enumerable.Range(0, 25).Select(i => $"{group.Key[6..]}-{i}"), group.Select(r => r.Target));
        }
        Assert.Null(Verify(t.Store, out var count));
        Assert.Equal(500, count);
    }

    [Fact]
    public async Task AppendingAfterDisposeFails()
    {
        using var t = new TempStore();
        var log = new AuditLog(t.Store);
        Assert.Equal(1, await log.AppendAsync(Entry("a")));
        await log.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => log.AppendAsync(Entry("b")));
        Assert.Single(t.Store.Locked(db => AuditLog.Read(db)));
    }

    [Fact]
    public async Task TwoStoresOnOneFileInterleaveIntoOneChain()
    {
        using var t = new TempStore();
        using var second = t.Open(); // as a CLI command (token create) beside the daemon
        var log = new AuditLog(t.Store);
        var daemon = Task.WhenAll(Enumerable.Range(0, 10).Select(task => Task.Run(async () =>
        {
            for (var i = 0; i < 20; i++)
            {
                await log.AppendAsync(Entry($"daemon-{task}-{i}"));
            }
        })));
        var cli = Task.Run(() =>
        {
            for (var i = 0; i < 100; i++)
            {
                var recs = second.Locked(db => AuditLog.AppendBatch(db, [Entry($"cli-{i}-a", action: "token.create"), Entry($"cli-{i}-b", action: "token.create")]));
                Assert.Equal(recs[0].Seq + 1, recs[1].Seq);
                Assert.Equal(recs[0].Hash, recs[1].PrevHash);
            }
        });
        await Task.WhenAll(daemon, cli);
        await log.DisposeAsync();

        var records = t.Store.Locked(db => AuditLog.Read(db));
        Assert.Equal(Enumerable.Range(1, 400).Select(i => (long)i), records.Select(r => r.Seq));
        Assert.Equal(200, records.Count(r => r.Target.StartsWith("cli-", StringComparison.Ordinal)));
        Assert.Equal(200, records.Count(r => r.Target.StartsWith("daemon-", StringComparison.Ordinal)));
        Assert.Null(Verify(t.Store, out var n1));
        Assert.Null(Verify(second, out var n2));
        Assert.Equal((400L, 400L), (n1, n2));
    }

    [Fact]
    public void AnIntactLogVerifies()
    {
        using var empty = new TempStore();
        Assert.Null(Verify(empty.Store, out var none));
        Assert.Equal(0, none);
        using var t = Filled();
        Assert.Null(Verify(t.Store, out var count));
        Assert.Equal(10, count);
        var records = t.Store.Locked(db => AuditLog.Read(db));
        Assert.Equal(AuditLog.Genesis, records[0].PrevHash);
        Assert.All(records, r => Assert.Equal(AuditLog.ComputeHash(r), r.Hash));
        Assert.All(records.Skip(1), (r, i) => Assert.Equal(records[i].Hash, r.PrevHash));
    }

    [Theory]
    [InlineData("time", "'2001-01-01T00:00:00.0000000Z'")]
    [InlineData("tenant", "'globex'")]
    [InlineData("token_id", "'ffffffffffff'")]
    [InlineData("action", "'sandbox.delete'")]
    [InlineData("target", "'other'")]
    [InlineData("decision", "'denied'")]
    [InlineData("rule", "'token'")]
    [InlineData("outcome", "'exit:1'")]
    [InlineData("duration_ms", "99.5")]
    [InlineData("detail", "''")]
    [InlineData("hash", "'" + AuditLog.Genesis + "'")]
    public void AnEditOfAnyFieldIsFoundAtThatRecord(string column, string value)
    {
        using var t = Filled();
        Assert.Equal(1, t.Store.Locked(db => Sql(db, $"UPDATE audit SET {column} = {value} WHERE seq = 4")));
        var b = Verify(t.Store, out _);
        Assert.NotNull(b);
        Assert.Equal(4, b.Seq);
        Assert.Contains("altered", b.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void AnEditOfTheTimeByOneTickIsFound()
    {
        using var t = Filled();
        t.Store.Locked(db =>
        {
            var r = AuditLog.Read(db, 3, 1).Single();
            var shifted = r.Time.AddTicks(1).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);
            Sql(db, $"UPDATE audit SET time = '{shifted}' WHERE seq = 4");
        });
        Assert.Equal(4, Verify(t.Store, out _)?.Seq);
    }

    [Fact]
    public void AnEditWithItsHashRecomputedIsFoundAtTheNextRecord()
    {
        using var t = Filled();
        t.Store.Locked(db =>
        {
            var r = AuditLog.Read(db, 3, 1).Single() with { Outcome = "exit:1" };
            r = r with { Hash = AuditLog.ComputeHash(r) };
            Sql(db, $"UPDATE audit SET outcome = 'exit:1', hash = '{r.Hash}' WHERE seq = 4");
        });
        var b = Verify(t.Store, out _);
        Assert.Equal(5, b?.Seq);
        Assert.Contains("prev_hash", b!.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void AChangedPrevHashIsFound()
    {
        using var t = Filled();
        t.Store.Locked(db => Sql(db, $"UPDATE audit SET prev_hash = '{AuditLog.Genesis}' WHERE seq = 6"));
        Assert.Equal(6, Verify(t.Store, out _)?.Seq);
    }

    [Fact]
    public void ADeletedRecordIsNamedMissing()
    {
        using var t = Filled();
        t.Store.Locked(db => Sql(db, "DELETE FROM audit WHERE seq = 4"));
        var b = Verify(t.Store, out _);
        Assert.Equal(4, b?.Seq);
        Assert.Contains("missing", b!.Reason, StringComparison.Ordinal);

        using var first = Filled();
        first.Store.Locked(db => Sql(db, "DELETE FROM audit WHERE seq = 1"));
        Assert.Equal(1, Verify(first.Store, out _)?.Seq);

        using var several = Filled();
        several.Store.Locked(db => Sql(db, "DELETE FROM audit WHERE seq BETWEEN 3 AND 7"));
        Assert.Equal(3, Verify(several.Store, out _)?.Seq);
    }

    [Fact]
    public void SwappedRecordsAreFoundAtTheFirst()
    {
        using var t = Filled();
        // Renumber 4 and 5 the other way round (their contents trade places in the order).
        t.Store.Locked(db => Sql(db, "UPDATE audit SET seq = -1 WHERE seq = 4; UPDATE audit SET seq = 4 WHERE seq = 5; UPDATE audit SET seq = 5 WHERE seq = -1"));
        Assert.Equal(4, Verify(t.Store, out _)?.Seq);

        using var moved = Filled();
        // Move record 2 to the end.
        moved.Store.Locked(db => Sql(db, "UPDATE audit SET seq = 11 WHERE seq = 2"));
        Assert.Equal(2, Verify(moved.Store, out _)?.Seq);
    }

    [Fact]
    public void TailTruncationAndAFullRewriteAreNotDetectable()
    {
        // Documented limits of an unanchored hash chain: removing the newest records leaves a valid (shorter) chain,
        // and whoever can write the store can recompute every hash after an edit. Detecting either needs the head
        // hash kept elsewhere (an exported copy, a signed checkpoint).
        using var t = Filled();
        t.Store.Locked(db => Sql(db, "DELETE FROM audit WHERE seq >= 9"));
        Assert.Null(Verify(t.Store, out var count));
        Assert.Equal(8, count);

        using var rewritten = Filled();
        rewritten.Store.Locked(db =>
        {
            var all = AuditLog.Read(db);
            var prev = all[2].Hash;
            foreach (var r in all.Skip(3))
            {
                var forged = r with { Outcome = r.Seq == 4 ? "exit:1" : r.Outcome, PrevHash = prev };
                forged = forged with { Hash = AuditLog.ComputeHash(forged) };
                Sql(db, $"UPDATE audit SET outcome = '{forged.Outcome}', prev_hash = '{forged.PrevHash}', hash = '{forged.Hash}' WHERE seq = {r.Seq}");
                prev = forged.Hash;
            }
        });
        Assert.Null(Verify(rewritten.Store, out _));
        // ... but an export taken before still exposes it: its head hash is no longer in the chain.
        using var original = Filled();
        var before = original.Store.Locked(db => AuditLog.Read(db)).Last().Hash;
        Assert.NotEqual(before, rewritten.Store.Locked(db => AuditLog.Read(db)).Last().Hash);
    }

    [Fact]
    public void ReadFiltersByTenantAndActionAndTailKeepsOrder()
    {
        using var t = new TempStore();
        t.Store.Locked(db => AuditLog.AppendBatch(db, [
            Entry("a", "acme", "sandbox.create"), Entry("b", "globex", "sandbox.create"), Entry("c", "acme", "claim.create"),
            Entry("d", "acme", "sandbox.delete"), Entry("e", "globex", "token.create"),
        ]));
        Assert.Equal(["a", "c", "d"], t.Store.Locked(db => AuditLog.Read(db, tenant: "acme")).Select(r => r.Target));
        Assert.Equal(["a", "b", "d"], t.Store.Locked(db => AuditLog.Read(db, actionPrefix: "sandbox")).Select(r => r.Target));
        Assert.Equal(["d"], t.Store.Locked(db => AuditLog.Read(db, 1, 10, "acme", "sandbox")).Select(r => r.Target));
        Assert.Equal(["c"], t.Store.Locked(db => AuditLog.Read(db, 0, 2, "acme")).Skip(1).Select(r => r.Target));
        Assert.Equal(["c", "d", "e"], t.Store.Locked(db => AuditLog.Tail(db, 3)).Select(r => r.Target));
        Assert.Equal(["b", "d"], t.Store.Locked(db => AuditLog.Tail(db, 2, "sandbox")).Select(r => r.Target));
        Assert.Equal(5, t.Store.Locked(db => AuditLog.Tail(db, 50)).Count);
    }

    [Fact]
    public void TheHashCoversTheCanonicalFormOfEveryField()
    {
        var r = new AuditRecord
        {
            Seq = 7,
            Time = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero).AddTicks(1234567),
            Tenant = "acme",
            TokenId = "0123456789ab",
            Action = "sandbox.exec",
            Target = "s1",
            Decision = "allowed",
            Rule = "scope:sandbox",
            Outcome = "exit:3",
            DurationMs = 12.345,
            Detail = "argv0=sh",
            PrevHash = AuditLog.Genesis,
        };
        var h = AuditLog.ComputeHash(r);
        Assert.Matches("^[0-9a-f]{64}$", h);
        Assert.Equal(h, AuditLog.ComputeHash(r with { Hash = "ignored" }));
        // The same instant in another offset is the same record.
        Assert.Equal(h, AuditLog.ComputeHash(r with { Time = r.Time.ToOffset(TimeSpan.FromHours(2)) }));
        var variants = new[]
        {
            r with { Seq = 8 }, r with { Time = r.Time.AddTicks(1) }, r with { Tenant = "acmf" }, r with { TokenId = "0123456789ac" },
            r with { Action = "sandbox.exed" }, r with { Target = "s2" }, r with { Decision = "denied" }, r with { Rule = "token" },
            r with { Outcome = "exit:4" }, r with { DurationMs = 12.346 }, r with { Detail = "argv0=bash" }, r with { PrevHash = new string('1', 64) },
            // Field boundaries are unambiguous: moving a character from one field to the next changes the hash.
            r with { Tenant = "acm", TokenId = "e0123456789ab" },
        };
        Assert.Equal(variants.Length, variants.Select(AuditLog.ComputeHash).Append(h).Distinct().Count() - 1);
    }
}
