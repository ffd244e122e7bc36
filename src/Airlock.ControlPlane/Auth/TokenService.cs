using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Airlock.ControlPlane.Store;
using Airlock.Core;
using Airlock.Core.Control;
using Airlock.Core.Validation;

namespace Airlock.ControlPlane.Auth;

/// <summary>
/// API tokens: <c>alk_ID_SECRET</c>. Only the SHA-256 of the secret is stored; a token names one tenant, a set of
/// scopes and optionally an expiry. Validated tokens are cached for two seconds, so a revocation bites within that.
/// </summary>
public sealed class TokenService(ControlStore store, TimeProvider time)
{
    public static readonly string[] AllScopes = ["sandbox", "template", "audit"];

    /// <summary>The tenant of the daemon's own audit records (start-up, controller errors).</summary>
    public const string ReservedTenant = "system";
    private readonly Dictionary<string, (TokenInfo Info, DateTimeOffset Until)> _cache = [];

    public static (string Token, TokenInfo Info) Create(ControlStore store, string tenant, IReadOnlyList<string> scopes, TimeSpan? ttl, DateTimeOffset now)
    {
        var errors = new List<ValidationError>();
        if (!TemplateValidator.IsValidName(tenant))
        {
            errors.Add(new("--tenant", $"'{tenant}' must be 1-63 lowercase letters, digits or '-'"));
        }
        else if (tenant == ReservedTenant)
        {
            errors.Add(new("--tenant", $"'{tenant}' is reserved for the daemon's own records"));
        }
        var expanded = scopes.Count == 0 || scopes.Contains("*") ? AllScopes.ToList() : scopes.Distinct().ToList();
        foreach (var s in expanded.Where(s => !AllScopes.Contains(s)))
        {
            errors.Add(new("--scope", $"'{s}' is not a scope; use {string.Join(", ", AllScopes)} or *"));
        }
        if (ttl is { } t && (t <= TimeSpan.Zero || t > TimeSpan.FromDays(3650)))
        {
            errors.Add(new("--ttl", "must be a positive duration of at most 3650d"));
        }
        if (errors.Count > 0)
        {
            throw new ValidationException("token", errors);
        }
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        var secret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var info = new TokenInfo(id, tenant, expanded, now, ttl is { } x ? now + x : null);
        store.Locked(db =>
        {
            using var cmd = db.CreateCommand();
            cmd.CommandText = "INSERT INTO tokens(id, tenant, secret_sha256, scopes, created_at, expires_at) VALUES ($id, $t, $h, $s, $c, $e)";
            cmd.Parameters.AddWithValue("$id", id);
            cmd.Parameters.AddWithValue("$t", tenant);
            cmd.Parameters.AddWithValue("$h", Hash(secret));
            cmd.Parameters.AddWithValue("$s", string.Join(',', expanded));
            cmd.Parameters.AddWithValue("$c", now.ToUnixTimeMilliseconds());
            cmd.Parameters.AddWithValue("$e", info.ExpiresAt is { } e ? e.ToUnixTimeMilliseconds() : DBNull.Value);
            cmd.ExecuteNonQuery();
        });
        return ($"alk_{id}_{secret}", info);
    }

    public static bool Revoke(ControlStore store, string id) => store.Locked(db =>
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = "UPDATE tokens SET revoked = 1 WHERE id = $id";
        cmd.Parameters.AddWithValue("$id", id);
        return cmd.ExecuteNonQuery() > 0;
    });

    /// <summary>The token's identity, or why it is refused (<c>missing</c>, <c>malformed</c>, <c>unknown</c>,
    /// <c>expired</c>, <c>revoked</c>).</summary>
    public (TokenInfo? Info, string Rule) Validate(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return (null, "token:missing");
        }
        var now = time.GetUtcNow();
        lock (_cache)
        {
            if (_cache.TryGetValue(token, out var c) && c.Until > now && (c.Info.ExpiresAt is null || c.Info.ExpiresAt > now))
            {
                return (c.Info, "token");
            }
        }
        var parts = token.Split('_');
        if (parts.Length != 3 || parts[0] != "alk" || parts[1].Length != 12 || parts[2].Length < 40)
        {
            return (null, "token:malformed");
        }
        var row = store.Locked(db =>
        {
            using var cmd = db.CreateCommand();
            cmd.CommandText = "SELECT tenant, secret_sha256, scopes, created_at, expires_at, revoked FROM tokens WHERE id = $id";
            cmd.Parameters.AddWithValue("$id", parts[1]);
            using var r = cmd.ExecuteReader();
            return r.Read()
                ? (r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt64(3), r.IsDBNull(4) ? (long?)null : r.GetInt64(4), r.GetInt64(5) != 0)
                : default((string, string, string, long, long?, bool)?);
        });
        if (row is not { } t || !CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Hash(parts[2])), Encoding.ASCII.GetBytes(t.Item2)))
        {
            return (null, "token:unknown");
        }
        if (t.Item6)
        {
            return (null, "token:revoked");
        }
        var info = new TokenInfo(parts[1], t.Item1, t.Item3.Split(',', StringSplitOptions.RemoveEmptyEntries),
            DateTimeOffset.FromUnixTimeMilliseconds(t.Item4), t.Item5 is { } e ? DateTimeOffset.FromUnixTimeMilliseconds(e) : null);
        if (info.ExpiresAt is { } exp && exp <= now)
        {
            return (null, "token:expired");
        }
        lock (_cache)
        {
            if (_cache.Count > 10_000)
            {
                _cache.Clear();
            }
            _cache[token] = (info, now.AddSeconds(2));
        }
        return (info, "token");
    }

    private static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    public static string FormatTtl(TimeSpan t) => t.TotalSeconds.ToString(CultureInfo.InvariantCulture) + "s";
}
