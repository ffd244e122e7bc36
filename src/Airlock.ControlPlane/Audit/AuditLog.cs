using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Airlock.ControlPlane.Store;
using Airlock.Core.Control;
using Microsoft.Data.Sqlite;

namespace Airlock.ControlPlane.Audit;

/// <summary>What a caller wants recorded; the log adds sequence number, time and hashes.</summary>
public sealed record AuditEntry(
    string Tenant, string TokenId, string Action, string Target, string Decision, string Rule, string Outcome,
    double DurationMs, string Detail = "");

/// <summary>
/// Append-only, hash-chained audit log in the store. Each record carries the SHA-256 of its predecessor and its own
/// hash over every field, so an edit, a deletion or a reordering breaks the chain at that record. Appends are group
/// committed: callers waiting at the same moment share one transaction and one fsync, and each call returns only
/// once its record is durable.
/// </summary>
public sealed class AuditLog : IAsyncDisposable
{
    public const string Genesis = "0000000000000000000000000000000000000000000000000000000000000000";
    private readonly ControlStore _store;
    private readonly Channel<(AuditEntry Entry, TaskCompletionSource<long> Done)> _queue =
        Channel.CreateUnbounded<(AuditEntry, TaskCompletionSource<long>)>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writer;

    /// <summary>Raised (on the writer thread) after records are durable.</summary>
    public event Action<IReadOnlyList<AuditRecord>>? Appended;

    public AuditLog(ControlStore store)
    {
        _store = store;
        _writer = Task.Run(WriteLoopAsync);
    }

    /// <summary>Appends a record and returns its sequence number once it is durable.</summary>
    public Task<long> AppendAsync(AuditEntry entry)
    {
        var done = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_queue.Writer.TryWrite((entry, done)))
        {
            done.SetException(new ObjectDisposedException(nameof(AuditLog)));
        }
        return done.Task;
    }

    private async Task WriteLoopAsync()
    {
        var batch = new List<(AuditEntry Entry, TaskCompletionSource<long> Done)>();
        while (await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            while (batch.Count < 512 && _queue.Reader.TryRead(out var item))
            {
                batch.Add(item);
            }
            try
            {
                var records = _store.Locked(db => AppendBatch(db, batch.Select(b => b.Entry).ToList()));
                for (var i = 0; i < batch.Count; i++)
                {
                    batch[i].Done.SetResult(records[i].Seq);
                }
                Appended?.Invoke(records);
            }
            catch (Exception e)
            {
                foreach (var b in batch)
                {
                    b.Done.TrySetException(e);
                }
            }
        }
    }

    /// <summary>Appends synchronously in one transaction (for CLI commands that write the store themselves). The
    /// chain head is read inside the write transaction, so several writers never fork the chain.</summary>
    public static IReadOnlyList<AuditRecord> AppendBatch(SqliteConnection db, IReadOnlyList<AuditEntry> entries)
    {
        using var tx = db.BeginTransaction(deferred: false);
        long seq = 0;
        var prev = Genesis;
        using (var head = db.CreateCommand())
        {
            head.Transaction = tx;
            head.CommandText = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1";
            using var r = head.ExecuteReader();
            if (r.Read())
            {
                seq = r.GetInt64(0);
                prev = r.GetString(1);
            }
        }
        var records = new List<AuditRecord>(entries.Count);
        using var cmd = db.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = """
            INSERT INTO audit(seq, time, tenant, token_id, action, target, decision, rule, outcome, duration_ms, detail, prev_hash, hash)
            VALUES ($seq, $time, $tenant, $token, $action, $target, $decision, $rule, $outcome, $dur, $detail, $prev, $hash)
            """;
        var p = new Dictionary<string, SqliteParameter>();
        foreach (var n in new[] { "$seq", "$time", "$tenant", "$token", "$action", "$target", "$decision", "$rule", "$outcome", "$dur", "$detail", "$prev", "$hash" })
        {
            p[n] = cmd.Parameters.Add(n, SqliteType.Text);
        }
        var now = DateTimeOffset.UtcNow;
        foreach (var e in entries)
        {
            var rec = new AuditRecord
            {
                Seq = ++seq,
                Time = now,
                Tenant = e.Tenant,
                TokenId = e.TokenId,
                Action = e.Action,
                Target = e.Target,
                Decision = e.Decision,
                Rule = e.Rule,
                Outcome = e.Outcome,
                DurationMs = Math.Round(e.DurationMs, 3),
                Detail = e.Detail,
                PrevHash = prev,
            };
            rec = rec with { Hash = ComputeHash(rec) };
            p["$seq"].Value = rec.Seq;
            p["$time"].Value = FormatTime(rec.Time);
            p["$tenant"].Value = rec.Tenant;
            p["$token"].Value = rec.TokenId;
            p["$action"].Value = rec.Action;
            p["$target"].Value = rec.Target;
            p["$decision"].Value = rec.Decision;
            p["$rule"].Value = rec.Rule;
            p["$outcome"].Value = rec.Outcome;
            p["$dur"].Value = rec.DurationMs;
            p["$detail"].Value = rec.Detail;
            p["$prev"].Value = rec.PrevHash;
            p["$hash"].Value = rec.Hash;
            cmd.ExecuteNonQuery();
            records.Add(rec);
            prev = rec.Hash;
        }
        tx.Commit();
        return records;
    }

    private static string FormatTime(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

    /// <summary>SHA-256 over the canonical form of every field but the hash itself: a JSON array in fixed order.</summary>
    public static string ComputeHash(AuditRecord r)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartArray();
            w.WriteNumberValue(r.Seq);
            w.WriteStringValue(FormatTime(r.Time));
            w.WriteStringValue(r.Tenant);
            w.WriteStringValue(r.TokenId);
            w.WriteStringValue(r.Action);
            w.WriteStringValue(r.Target);
            w.WriteStringValue(r.Decision);
            w.WriteStringValue(r.Rule);
            w.WriteStringValue(r.Outcome);
            w.WriteStringValue(r.DurationMs.ToString("R", CultureInfo.InvariantCulture));
            w.WriteStringValue(r.Detail);
            w.WriteStringValue(r.PrevHash);
            w.WriteEndArray();
        }
        return Convert.ToHexStringLower(SHA256.HashData(buffer.ToArray()));
    }

    /// <summary>Records in order, from <paramref name="afterSeq"/> (exclusive); optionally one tenant's only.</summary>
    public static List<AuditRecord> Read(SqliteConnection db, long afterSeq = 0, int limit = int.MaxValue, string? tenant = null, string? actionPrefix = null)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = SelectAll + " WHERE seq > $after"
            + (tenant is null ? "" : " AND tenant = $tenant")
            + (actionPrefix is null ? "" : " AND action LIKE $prefix")
            + " ORDER BY seq LIMIT $limit";
        cmd.Parameters.AddWithValue("$after", afterSeq);
        cmd.Parameters.AddWithValue("$limit", limit);
        if (tenant is not null)
        {
            cmd.Parameters.AddWithValue("$tenant", tenant);
        }
        if (actionPrefix is not null)
        {
            cmd.Parameters.AddWithValue("$prefix", actionPrefix + "%");
        }
        return ReadAll(cmd);
    }

    /// <summary>The last <paramref name="count"/> records (of actions starting with <paramref name="actionPrefix"/>),
    /// oldest first.</summary>
    public static List<AuditRecord> Tail(SqliteConnection db, int count, string? actionPrefix = null)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = SelectAll + (actionPrefix is null ? "" : " WHERE action LIKE $prefix") + " ORDER BY seq DESC LIMIT $limit";
        cmd.Parameters.AddWithValue("$limit", count);
        if (actionPrefix is not null)
        {
            cmd.Parameters.AddWithValue("$prefix", actionPrefix + "%");
        }
        var list = ReadAll(cmd);
        list.Reverse();
        return list;
    }

    private static List<AuditRecord> ReadAll(SqliteCommand cmd)
    {
        using var r = cmd.ExecuteReader();
        var list = new List<AuditRecord>();
        while (r.Read())
        {
            list.Add(ReadRecord(r));
        }
        return list;
    }

    /// <summary>Every column, in the order <see cref="ReadRecord"/> reads them.</summary>
    private const string SelectAll = "SELECT seq, time, tenant, token_id, action, target, decision, rule, outcome, duration_ms, detail, prev_hash, hash FROM audit";

    private static AuditRecord ReadRecord(SqliteDataReader r) => new()
    {
        Seq = r.GetInt64(0),
        Time = DateTimeOffset.Parse(r.GetString(1), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal),
        Tenant = r.GetString(2),
        TokenId = r.GetString(3),
        Action = r.GetString(4),
        Target = r.GetString(5),
        Decision = r.GetString(6),
        Rule = r.GetString(7),
        Outcome = r.GetString(8),
        DurationMs = r.GetDouble(9),
        Detail = r.GetString(10),
        PrevHash = r.GetString(11),
        Hash = r.GetString(12),
    };

    /// <summary>Walks the whole chain. Returns null when intact, else the first broken link and why.</summary>
    public static AuditBreak? Verify(SqliteConnection db, out long count)
    {
        count = 0;
        var prev = Genesis;
        long expected = 1;
        using var cmd = db.CreateCommand();
        cmd.CommandText = SelectAll + " ORDER BY seq";
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            var rec = ReadRecord(r);
            count++;
            if (rec.Seq != expected)
            {
                return new AuditBreak(expected, $"record {expected} is missing (the next record is {rec.Seq}): records were deleted");
            }
            if (rec.PrevHash != prev)
            {
                return new AuditBreak(rec.Seq, $"record {rec.Seq} does not follow record {rec.Seq - 1}: its prev_hash does not match (a record was deleted, reordered or edited)");
            }
            if (ComputeHash(rec) != rec.Hash)
            {
                return new AuditBreak(rec.Seq, $"record {rec.Seq} was altered: its content no longer matches its hash");
            }
            prev = rec.Hash;
            expected++;
        }
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
    }
}

public sealed record AuditBreak(long Seq, string Reason);
