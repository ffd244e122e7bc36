using System.Text.Json.Serialization;

namespace Airlock.Cli;

/// <summary>The object <c>airlock run --json</c> prints.</summary>
internal sealed record RunJson(int ExitCode, int? Signal, string? KilledReason, string Stdout, string Stderr, long DurationMs, string SandboxId, bool Truncated);

internal sealed record SandboxJson(string Id, string Template, string Runtime, string State, DateTimeOffset CreatedAt);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(RunJson))]
[JsonSerializable(typeof(Airlock.Core.Control.Sandbox))]
[JsonSerializable(typeof(Airlock.Core.Control.SandboxClaim))]
[JsonSerializable(typeof(Airlock.Core.Control.SandboxWarmPool))]
[JsonSerializable(typeof(List<SandboxJson>))]
internal sealed partial class CliJson : JsonSerializerContext;
