using Airlock.ControlPlane.Auth;
using Airlock.Core.Validation;

namespace Airlock.ControlPlane.Tests;

/// <summary>A clock the test moves by hand.</summary>
public sealed class FakeTime(DateTimeOffset start) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = start;

    public override DateTimeOffset GetUtcNow() => Now;

    public void Advance(TimeSpan by) => Now += by;
}

public sealed class TokenServiceTests
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private static long TokenRows(TempStore t) => t.Store.Locked(db =>
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT count(*) FROM tokens";
        return (long)cmd.ExecuteScalar()!;
    });

    [Fact]
    public void ACreatedTokenValidatesToItsTenantAndScopes()
    {
        using var t = new TempStore();
        var time = new FakeTime(T0);
        var (token, info) = TokenService.Create(t.Store, "acme", [], null, time.Now);
        Assert.Matches("^alk_[0-9a-f]{12}_[0-9a-f]{64}$", token);
        Assert.Equal(token.Split('_')[1], info.Id);
        Assert.Equal(["sandbox", "template", "audit"], info.Scopes);
        Assert.Null(info.ExpiresAt);
        Assert.Equal(T0, info.CreatedAt);

        var svc = new TokenService(t.Store, time);
        var (v, rule) = svc.Validate(token);
        Assert.Equal("token", rule);
        Assert.NotNull(v);
        Assert.Equal(("acme", info.Id, T0), (v.Tenant, v.Id, v.CreatedAt));
        Assert.Equal(info.Scopes, v.Scopes);

        // A fresh service (a restarted daemon) validates it from the store alone.
        Assert.Equal("acme", new TokenService(t.Store, time).Validate(token).Info?.Tenant);
        // The secret itself is not stored.
        var stored = t.Store.Locked(db =>
        {
            using var cmd = db.CreateCommand();
            cmd.CommandText = "SELECT id || tenant || secret_sha256 || scopes FROM tokens";
            return (string)cmd.ExecuteScalar()!;
        });
        Assert.DoesNotContain(token.Split('_')[2], stored, StringComparison.Ordinal);
    }

    [Fact]
    public void ScopesAreKeptAsGiven()
    {
        using var t = new TempStore();
        Assert.Equal(["audit"], TokenService.Create(t.Store, "acme", ["audit"], null, T0).Info.Scopes);
        Assert.Equal(["sandbox", "template", "audit"], TokenService.Create(t.Store, "acme", ["*"], null, T0).Info.Scopes);
        Assert.Equal(["sandbox"], TokenService.Create(t.Store, "acme", ["sandbox", "sandbox"], null, T0).Info.Scopes);
        var (token, _) = TokenService.Create(t.Store, "acme", ["template", "sandbox"], null, T0);
        Assert.Equal(["template", "sandbox"], new TokenService(t.Store, new FakeTime(T0)).Validate(token).Info!.Scopes);
    }

    [Fact]
    public void EachTokenIsUnique()
    {
        using var t = new TempStore();
        var tokens = Enumerable.Range(0, 50).Select(_ => TokenService.Create(t.Store, "acme", [], null, T0).Token).ToList();
        Assert.Equal(50, tokens.Distinct().Count());
        Assert.Equal(50, tokens.Select(x => x.Split('_')[1]).Distinct().Count());
    }

    [Fact]
    public void AWrongSecretOrUnknownIdIsUnknownAndShapesAreChecked()
    {
        using var t = new TempStore();
        var svc = new TokenService(t.Store, new FakeTime(T0));
        var (token, info) = TokenService.Create(t.Store, "acme", [], null, T0);
        var secret = token.Split('_')[2];
        var other = TokenService.Create(t.Store, "globex", [], null, T0).Token;
        Assert.NotNull(svc.Validate(token).Info); // cached now: the cache must not leak to other strings

        Assert.Equal((null, "token:unknown"), Rule(svc, $"alk_{info.Id}_{new string('0', 64)}"));
        Assert.Equal((null, "token:unknown"), Rule(svc, $"alk_{info.Id}_{other.Split('_')[2]}")); // another token's secret
        Assert.Equal((null, "token:unknown"), Rule(svc, $"alk_{(info.Id == "aaaaaaaaaaaa" ? "bbbbbbbbbbbb" : "aaaaaaaaaaaa")}_{secret}"));
        Assert.Equal((null, "token:unknown"), Rule(svc, $"alk_{info.Id}_{secret}0"));
        Assert.Equal((null, "token:missing"), Rule(svc, null));
        Assert.Equal((null, "token:missing"), Rule(svc, ""));
        foreach (var bad in new[] { "garbage", "alk_", $"alk_{info.Id}", $"alk_{info.Id}_{secret[..39]}", $"alx_{info.Id}_{secret}",
                     $"alk_{info.Id}x_{secret}", $"alk_{info.Id}_{secret}_x", $"ALK_{info.Id}_{secret}" })
        {
            Assert.Equal((null, "token:malformed"), Rule(svc, bad));
        }
        Assert.Equal("globex", svc.Validate(other).Info?.Tenant);
    }

    private static (string? Tenant, string Rule) Rule(TokenService svc, string? token)
    {
        var (info, rule) = svc.Validate(token);
        return (info?.Tenant, rule);
    }

    [Fact]
    public void AnExpiredTokenIsRefusedEvenWhileCached()
    {
        using var t = new TempStore();
        var time = new FakeTime(T0);
        var svc = new TokenService(t.Store, time);
        var (token, info) = TokenService.Create(t.Store, "acme", [], TimeSpan.FromHours(1), time.Now);
        Assert.Equal(T0.AddHours(1), info.ExpiresAt);
        Assert.Equal("token", svc.Validate(token).Rule);
        time.Advance(TimeSpan.FromMinutes(59));
        Assert.Equal("token", svc.Validate(token).Rule);
        time.Advance(TimeSpan.FromSeconds(59.5)); // validated (and cached for 2 s) half a second before expiry
        Assert.Equal("token", svc.Validate(token).Rule);
        time.Advance(TimeSpan.FromSeconds(0.5)); // exactly at expiry
        Assert.Equal((null, "token:expired"), Rule(svc, token));
        time.Advance(TimeSpan.FromDays(1));
        Assert.Equal((null, "token:expired"), Rule(svc, token));
        Assert.Equal((null, "token:expired"), Rule(new TokenService(t.Store, time), token));
    }

    [Fact]
    public void ARevokedTokenIsRefusedOnceTheCacheExpires()
    {
        using var t = new TempStore();
        var time = new FakeTime(T0);
        var svc = new TokenService(t.Store, time);
        var (token, info) = TokenService.Create(t.Store, "acme", [], null, time.Now);
        var (keep, _) = TokenService.Create(t.Store, "acme", [], null, time.Now);
        Assert.Equal("token", svc.Validate(token).Rule);
        Assert.Equal("token", svc.Validate(keep).Rule);

        Assert.True(TokenService.Revoke(t.Store, info.Id));
        // Documented: validations are cached for two seconds, so a revocation bites within that.
        time.Advance(TimeSpan.FromSeconds(1.9));
        Assert.Equal("token", svc.Validate(token).Rule);
        time.Advance(TimeSpan.FromSeconds(0.2));
        Assert.Equal((null, "token:revoked"), Rule(svc, token));
        // A service that never saw it refuses at once; revocation is not undone by time.
        Assert.Equal((null, "token:revoked"), Rule(new TokenService(t.Store, time), token));
        time.Advance(TimeSpan.FromDays(30));
        Assert.Equal((null, "token:revoked"), Rule(svc, token));
        Assert.Equal("token", svc.Validate(keep).Rule);

        Assert.False(TokenService.Revoke(t.Store, "ffffffffffff"));
        Assert.True(TokenService.Revoke(t.Store, info.Id)); // idempotent
    }

    [Theory]
    [InlineData("BAD_NAME", "sandbox", 3600, "--tenant")]
    [InlineData("", "sandbox", 3600, "--tenant")]
    [InlineData("-acme", "sandbox", 3600, "--tenant")]
    [InlineData("acme", "nope", 3600, "--scope")]
    [InlineData("acme", "Sandbox", 3600, "--scope")]
    [InlineData("acme", "sandbox", 0, "--ttl")]
    [InlineData("acme", "sandbox", -60, "--ttl")]
    [InlineData("acme", "sandbox", 3651.0 * 86400, "--ttl")]
    public void BadInputNamesTheOptionAndStoresNothing(string tenant, string scope, double ttlSeconds, string option)
    {
        using var t = new TempStore();
        var e = Assert.Throws<ValidationException>(() => TokenService.Create(t.Store, tenant, [scope], TimeSpan.FromSeconds(ttlSeconds), T0));
        Assert.Equal([option], e.Errors.Select(x => x.Field));
        Assert.Equal(0, TokenRows(t));
    }

    [Fact]
    public void EveryBadOptionIsNamedAtOnce()
    {
        using var t = new TempStore();
        var e = Assert.Throws<ValidationException>(() => TokenService.Create(t.Store, "A", ["x", "sandbox", "y"], TimeSpan.Zero, T0));
        Assert.Equal(["--tenant", "--scope", "--scope", "--ttl"], e.Errors.Select(x => x.Field));
        Assert.Equal(0, TokenRows(t));
        // The longest allowed lifetime is fine.
        Assert.Equal(T0.AddDays(3650), TokenService.Create(t.Store, "a", [], TimeSpan.FromDays(3650), T0).Info.ExpiresAt);
    }
}
