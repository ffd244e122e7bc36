using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Data.Sqlite;

namespace Airlock.ControlPlane.Store;

/// <summary>
/// The daemon's embedded store: one SQLite file in WAL mode with <c>synchronous=FULL</c>, so a committed write
/// survives a killed daemon and a power cut. Resources are JSON documents keyed by (kind, tenant, name); tokens and
/// the audit log have their own tables. One connection, serialized: the daemon is the only writer (CLI commands
/// that write, such as <c>token create</c>, take SQLite's lock and wait up to 5 s).
/// </summary>
public sealed class ControlStore : IDisposable
{
    private readonly SqliteConnection _db;
    private readonly Lock _gate = new();

    public string DataDir { get; }

    public static string DatabasePath(string dataDir) => Path.Combine(dataDir, "airlock.db");

    public ControlStore(string dataDir, bool readOnly = false)
    {
        DataDir = Path.GetFullPath(dataDir);
        if (!readOnly)
        {
            Directory.CreateDirectory(DataDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        }
        else if (!File.Exists(DatabasePath(DataDir)))
        {
            throw new Core.AirlockException(Core.AirlockException.ErrorCodes.NotFound,
                $"no Airlock store in {DataDir}", "give the --data-dir that 'airlock serve' uses");
        }
        var cs = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath(DataDir),
            Mode = readOnly ? SqliteOpenMode.ReadOnly : SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            DefaultTimeout = 5,
        }.ToString();
        _db = new SqliteConnection(cs);
        _db.Open();
        if (!readOnly)
        {
            File.SetUnixFileMode(DatabasePath(DataDir), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        Exec("PRAGMA busy_timeout=5000");
        if (!readOnly)
        {
            Exec("PRAGMA journal_mode=WAL");
            Exec("PRAGMA synchronous=FULL");
            Exec("""
                CREATE TABLE IF NOT EXISTS objects (
                    kind TEXT NOT NULL, tenant TEXT NOT NULL, name TEXT NOT NULL, json TEXT NOT NULL,
                    PRIMARY KEY (kind, tenant, name));
                CREATE TABLE IF NOT EXISTS tokens (
                    id TEXT PRIMARY KEY, tenant TEXT NOT NULL, secret_sha256 TEXT NOT NULL, scopes TEXT NOT NULL,
                    created_at TEXT NOT NULL, expires_at TEXT, revoked INTEGER NOT NULL DEFAULT 0);
                CREATE TABLE IF NOT EXISTS audit (
                    seq INTEGER PRIMARY KEY, time TEXT NOT NULL, tenant TEXT NOT NULL, token_id TEXT NOT NULL,
                    action TEXT NOT NULL, target TEXT NOT NULL, decision TEXT NOT NULL, rule TEXT NOT NULL,
                    outcome TEXT NOT NULL, duration_ms REAL NOT NULL, detail TEXT NOT NULL,
                    prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
                """);
        }
    }

    public SqliteConnection Connection => _db;

    /// <summary>Runs <paramref name="body"/> holding the store's lock (one statement stream at a time).</summary>
    public T Locked<T>(Func<SqliteConnection, T> body)
    {
        lock (_gate)
        {
            return body(_db);
        }
    }

    public void Locked(Action<SqliteConnection> body)
    {
        lock (_gate)
        {
            body(_db);
        }
    }

    private void Exec(string sql)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    // ------------------------------------------------------------------ resources

    public void Put<T>(string kind, string tenant, string name, T value, JsonTypeInfo<T> info) => Locked(db =>
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = "INSERT INTO objects(kind, tenant, name, json) VALUES ($k, $t, $n, $j) ON CONFLICT(kind, tenant, name) DO UPDATE SET json = excluded.json";
        cmd.Parameters.AddWithValue("$k", kind);
        cmd.Parameters.AddWithValue("$t", tenant);
        cmd.Parameters.AddWithValue("$n", name);
        cmd.Parameters.AddWithValue("$j", JsonSerializer.Serialize(value, info));
        cmd.ExecuteNonQuery();
    });

    /// <summary>Applies several puts and deletes in one transaction (all or nothing).</summary>
    public void Batch(IEnumerable<StoreOp> ops) => Locked(db =>
    {
        using var tx = db.BeginTransaction();
        foreach (var op in ops)
        {
            using var cmd = db.CreateCommand();
            cmd.Transaction = tx;
            if (op.Json is null)
            {
                cmd.CommandText = "DELETE FROM objects WHERE kind = $k AND tenant = $t AND name = $n";
            }
            else
            {
                cmd.CommandText = "INSERT INTO objects(kind, tenant, name, json) VALUES ($k, $t, $n, $j) ON CONFLICT(kind, tenant, name) DO UPDATE SET json = excluded.json";
                cmd.Parameters.AddWithValue("$j", op.Json);
            }
            cmd.Parameters.AddWithValue("$k", op.Kind);
            cmd.Parameters.AddWithValue("$t", op.Tenant);
            cmd.Parameters.AddWithValue("$n", op.Name);
            cmd.ExecuteNonQuery();
        }
        tx.Commit();
    });

    public void Delete(string kind, string tenant, string name) => Batch([StoreOp.Delete(kind, tenant, name)]);

    public List<(string Tenant, string Name, T Value)> List<T>(string kind, JsonTypeInfo<T> info) => Locked(db =>
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT tenant, name, json FROM objects WHERE kind = $k ORDER BY tenant, name";
        cmd.Parameters.AddWithValue("$k", kind);
        using var r = cmd.ExecuteReader();
        var list = new List<(string, string, T)>();
        while (r.Read())
        {
            list.Add((r.GetString(0), r.GetString(1), JsonSerializer.Deserialize(r.GetString(2), info)!));
        }
        return list;
    });

    public void Dispose() => _db.Dispose();
}

/// <summary>One write of a <see cref="ControlStore.Batch"/>: a put (with JSON) or a delete.</summary>
public sealed record StoreOp(string Kind, string Tenant, string Name, string? Json)
{
    public static StoreOp Put<T>(string kind, string tenant, string name, T value, JsonTypeInfo<T> info) =>
        new(kind, tenant, name, JsonSerializer.Serialize(value, info));

    public static StoreOp Delete(string kind, string tenant, string name) => new(kind, tenant, name, null);
}

public static class Kinds
{
    public const string Template = "SandboxTemplate";
    public const string Sandbox = "Sandbox";
    public const string Claim = "SandboxClaim";
    public const string WarmPool = "SandboxWarmPool";
}
