using Airlock.Core.Model;

namespace Airlock.Core.Backends;

/// <summary>What Airlock remembers of a sandbox: enough to reach it, and to reap it after a crash.</summary>
/// <param name="Id">Stable id, <c>sbx-</c> followed by 12 hex digits.</param>
/// <param name="Template">The validated template it was created from.</param>
/// <param name="Ephemeral">Destroyed when its one command ends; reaped if its owner process dies first.</param>
/// <param name="OwnerPid">Process that owns an ephemeral sandbox (0 for persistent ones).</param>
/// <param name="OwnerStartTicks">Start time of the owner (from /proc/PID/stat) so a reused pid is not mistaken for it.</param>
public sealed record SandboxRecord(
    string Id,
    SandboxTemplate Template,
    DateTimeOffset CreatedAt,
    bool Ephemeral,
    int OwnerPid,
    long OwnerStartTicks)
{
    /// <summary>A fresh id: 48 random bits from the OS generator (Guid's, which unlike RandomNumberGenerator does not
    /// load libcrypto into the CLI).</summary>
    public static string NewId() => "sbx-" + Guid.NewGuid().ToString("N")[..12];

    public static bool IsValidId(string id) =>
        id.Length == 16 && id.StartsWith("sbx-", StringComparison.Ordinal) && id[4..].All(char.IsAsciiHexDigitLower);
}
