using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Airlock.Mcp.Manifests;

/// <summary>Source-generated JSON of the envelope (trimming- and NativeAOT-safe). Unknown, missing and null fields
/// are errors. The manifest itself is not serialized here: its bytes are the canonical form.</summary>
[JsonSourceGenerationOptions(
    WriteIndented = true,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true)]
[JsonSerializable(typeof(DsseEnvelope))]
internal sealed partial class ManifestJson : JsonSerializerContext
{
    /// <summary>The options of the attribute above, but base64 '+' and the media type stay readable
    /// instead of <c>\u002B</c> (the file is never embedded in HTML).</summary>
    public static ManifestJson Readable { get; } = new(new JsonSerializerOptions
    {
        WriteIndented = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
