using System.Text.Json.Serialization;
using Airlock.Core.Model;

namespace Airlock.Core.Control;

/// <summary>Source-generated JSON of the control-plane resources and the HTTP API (NativeAOT-safe, used by the CLI
/// through Airlock.Client). Unknown fields are errors, so a typo in a request is named instead of ignored, and a
/// JSON null where the model has no null (an object, a list) is an error naming the field, not a crash later.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    RespectNullableAnnotations = true)]
[JsonSerializable(typeof(SandboxTemplate))]
[JsonSerializable(typeof(System.Text.Json.Nodes.JsonObject))]
[JsonSerializable(typeof(Sandbox))]
[JsonSerializable(typeof(IReadOnlyList<Sandbox>))]
[JsonSerializable(typeof(SandboxClaim))]
[JsonSerializable(typeof(IReadOnlyList<SandboxClaim>))]
[JsonSerializable(typeof(SandboxWarmPool))]
[JsonSerializable(typeof(SandboxWarmPoolSpec))]
[JsonSerializable(typeof(IReadOnlyList<SandboxWarmPool>))]
[JsonSerializable(typeof(IReadOnlyList<SandboxTemplate>))]
[JsonSerializable(typeof(CreateSandboxRequest))]
[JsonSerializable(typeof(PatchSandboxRequest))]
[JsonSerializable(typeof(CreateClaimRequest))]
[JsonSerializable(typeof(ExecRequestBody))]
[JsonSerializable(typeof(RunRequestBody))]
[JsonSerializable(typeof(ExecFrame))]
[JsonSerializable(typeof(ExecResponse))]
[JsonSerializable(typeof(Problem))]
[JsonSerializable(typeof(AuditRecord))]
[JsonSerializable(typeof(IReadOnlyList<AuditRecord>))]
[JsonSerializable(typeof(TokenInfo))]
[JsonSerializable(typeof(HealthResponse))]
[JsonSerializable(typeof(IReadOnlyList<Guest.Protocol.FileEntry>))]
public sealed partial class ControlJson : JsonSerializerContext;
