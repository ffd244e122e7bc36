using System.CommandLine;
using System.Text.Json;
using Airlock.ControlPlane.Audit;
using Airlock.ControlPlane.Auth;
using Airlock.ControlPlane.Store;
using Airlock.Core;
using Airlock.Core.Control;
using Airlock.Core.Util;
using Airlock.Core.Validation;

namespace Airlock.Server.Admin;

/// <summary><c>airlock token create|revoke</c> and <c>airlock audit tail|export|verify</c>: work on the data
/// directory directly (SQLite allows them beside a running daemon).</summary>
public static class AdminCommands
{
    public static Option<string> DataDirOption() => new("--data-dir")
    {
        Description = "the daemon's data directory",
        Required = true,
    };

    public static Command Token()
    {
        var group = new Command("token", "Create and revoke API tokens.");
        var dataDir = DataDirOption();
        var tenant = new Option<string>("--tenant") { Description = "tenant the token acts for", Required = true };
        var scopes = new Option<string[]>("--scope") { Description = "sandbox, template, audit, or * (default: all); repeatable" };
        var ttl = new Option<string?>("--ttl") { Description = "lifetime, e.g. 1h or 30d (default: no expiry)" };
        var create = new Command("create", "Create a token and print it (only the token, on one line).") { dataDir, tenant, scopes, ttl };
        create.SetAction((p, ct) => Guard(_ =>
        {
            TimeSpan? life = p.GetValue(ttl) is { } t
                ? Quantity.TryParseDuration(t, out var d) ? d : throw new ValidationException("token", [new ValidationError("--ttl", $"'{t}' is not a duration such as 1h or 30d")])
                : null;
            using var store = new ControlStore(p.GetValue(dataDir)!);
            var (token, info) = TokenService.Create(store, p.GetValue(tenant)!, p.GetValue(scopes) ?? [], life, DateTimeOffset.UtcNow);
            store.Locked(db => AuditLog.AppendBatch(db, [new AuditEntry(info.Tenant, info.Id, "token.create", info.Id, "allowed", "local-admin", "ok", 0,
                $"scopes={string.Join(',', info.Scopes)} expires={info.ExpiresAt?.ToString("O") ?? "never"}")]));
            Console.Out.WriteLine(token);
            return Task.FromResult(0);
        }, ct));
        var dataDir2 = DataDirOption();
        var id = new Argument<string>("id") { Description = "token id (the part after alk_)" };
        var revoke = new Command("revoke", "Revoke a token.") { dataDir2, id };
        revoke.SetAction((p, ct) => Guard(_ =>
        {
            using var store = new ControlStore(p.GetValue(dataDir2)!);
            var tokenId = p.GetValue(id)!;
            if (!TokenService.Revoke(store, tokenId))
            {
                throw new AirlockException(AirlockException.ErrorCodes.NotFound, $"token '{tokenId}' does not exist", "give the 12 hex digits after alk_");
            }
            store.Locked(db => AuditLog.AppendBatch(db, [new AuditEntry("-", tokenId, "token.revoke", tokenId, "allowed", "local-admin", "ok", 0)]));
            return Task.FromResult(0);
        }, ct));
        group.Subcommands.Add(create);
        group.Subcommands.Add(revoke);
        return group;
    }

    public static Command Audit()
    {
        var group = new Command("audit", "Read and verify the hash-chained audit log.");

        var dd1 = DataDirOption();
        var count = new Option<int>("-n", "--lines") { Description = "how many records", DefaultValueFactory = _ => 20 };
        var kind = new Option<string?>("--kind") { Description = "only actions starting with this (e.g. sandbox, claim, egress)" };
        var follow = new Option<bool>("--follow", "-f") { Description = "keep printing new records" };
        var json = new Option<bool>("--json") { Description = "one JSON object per line" };
        var tail = new Command("tail", "Print the latest records.") { dd1, count, kind, follow, json };
        tail.SetAction((p, ct) => Guard(async token =>
        {
            using var store = new ControlStore(p.GetValue(dd1)!, readOnly: true);
            var prefix = p.GetValue(kind);
            var records = store.Locked(db => AuditLog.Tail(db, Math.Max(1, p.GetValue(count)), prefix));
            var last = records.Count > 0 ? records[^1].Seq : store.Locked(db => AuditLog.Tail(db, 1)).LastOrDefault()?.Seq ?? 0;
            Print(records, p.GetValue(json));
            while (p.GetValue(follow) && !token.IsCancellationRequested)
            {
                await Task.Delay(250, token).ConfigureAwait(false);
                var more = store.Locked(db => AuditLog.Read(db, last, 1000, null, prefix));
                if (more.Count > 0)
                {
                    last = more[^1].Seq;
                    Print(more, p.GetValue(json));
                }
            }
            return 0;
        }, ct));

        var dd2 = DataDirOption();
        var output = new Option<string?>("--output", "-o") { Description = "write to this file (default: stdout)" };
        var export = new Command("export", "Write every record as JSON lines (with hashes, verifiable elsewhere).") { dd2, output };
        export.SetAction((p, ct) => Guard(_ =>
        {
            using var store = new ControlStore(p.GetValue(dd2)!, readOnly: true);
            var records = store.Locked(db => AuditLog.Read(db));
            using var w = p.GetValue(output) is { } path ? new StreamWriter(path) : new StreamWriter(Console.OpenStandardOutput());
            foreach (var r in records)
            {
                w.WriteLine(JsonSerializer.Serialize(r, ControlJson.Default.AuditRecord));
            }
            return Task.FromResult(0);
        }, ct));

        var dd3 = DataDirOption();
        var verify = new Command("verify", "Check the hash chain; exit 0 only when every record is intact and in place.") { dd3 };
        verify.SetAction((p, ct) => Guard(_ =>
        {
            using var store = new ControlStore(p.GetValue(dd3)!, readOnly: true);
            long n = 0;
            var broken = store.Locked(db => AuditLog.Verify(db, out n));
            if (broken is null)
            {
                Console.Out.WriteLine($"audit log intact: {n} records");
                return Task.FromResult(0);
            }
            Console.Out.WriteLine($"audit log BROKEN at record {broken.Seq}: {broken.Reason}");
            Console.Error.WriteLine("airlock: error: the audit log was tampered with or damaged");
            Console.Error.WriteLine("  remedy: compare with an exported copy (airlock audit export) to see what changed");
            return Task.FromResult(1);
        }, ct));

        group.Subcommands.Add(tail);
        group.Subcommands.Add(export);
        group.Subcommands.Add(verify);
        return group;
    }

    private static void Print(IEnumerable<AuditRecord> records, bool json)
    {
        foreach (var r in records)
        {
            Console.Out.WriteLine(json
                ? JsonSerializer.Serialize(r, ControlJson.Default.AuditRecord)
                : $"{r.Seq,6} {r.Time:yyyy-MM-dd HH:mm:ss.fff} {r.Tenant,-12} {r.Action,-16} {r.Target,-24} {r.Decision,-7} {r.Rule,-16} {r.Outcome} {r.DurationMs:0.0}ms {r.Detail}");
        }
    }

    /// <summary>Errors become one line of cause and one of remedy, exit 125 (as the CLI).</summary>
    public static async Task<int> Guard(Func<CancellationToken, Task<int>> body, CancellationToken ct)
    {
        try
        {
            return await body(ct).ConfigureAwait(false);
        }
        catch (AirlockException e)
        {
            ErrorReport.Write(e, Console.Error);
            return 125;
        }
        catch (Microsoft.Data.Sqlite.SqliteException e)
        {
            Console.Error.WriteLine($"airlock: error: the store could not be read: {e.Message}");
            Console.Error.WriteLine("  remedy: check --data-dir and that you may read it (root)");
            return 125;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return 130;
        }
    }
}
