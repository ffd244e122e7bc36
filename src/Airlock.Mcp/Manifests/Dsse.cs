using System.Text;
using System.Text.Json.Serialization;

namespace Airlock.Mcp.Manifests;

/// <summary>One DSSE signature.</summary>
/// <param name="KeyId">Hint of the signing key: <c>sha256:&lt;hex of its SubjectPublicKeyInfo DER&gt;</c>. Only a
/// hint: a verifier checks the signature itself against its trusted keys.</param>
/// <param name="Sig">Base64 of the ECDSA P-256/SHA-256 signature over <see cref="Dsse.Pae"/>, in IEEE P1363 form
/// (r‖s, exactly 64 bytes).</param>
public sealed record DsseSignature(
    [property: JsonPropertyName("keyid")] string KeyId,
    [property: JsonPropertyName("sig")] string Sig);

/// <summary>A DSSE envelope (https://github.com/secure-systems-lab/dsse, protocol v1) around a canonical tool
/// manifest.</summary>
/// <param name="PayloadType"><see cref="Dsse.PayloadType"/>; part of what is signed.</param>
/// <param name="Payload">Base64 of <see cref="ManifestCanonical.Canonicalize"/>.</param>
/// <param name="Signatures">Signatures over <see cref="Dsse.Pae"/>(PayloadType, payload bytes).</param>
public sealed record DsseEnvelope(
    [property: JsonPropertyName("payloadType")] string PayloadType,
    [property: JsonPropertyName("payload")] string Payload,
    [property: JsonPropertyName("signatures")] IReadOnlyList<DsseSignature> Signatures);

/// <summary>The DSSE v1 signing input.</summary>
public static class Dsse
{
    /// <summary>Payload type of an Airlock tool manifest.</summary>
    public const string PayloadType = "application/vnd.airlock.tool-manifest+json";

    /// <summary>Pre-authentication encoding: <c>"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body</c>, lengths in
    /// bytes as ASCII decimal. Binding the type into the signed bytes stops a signature being replayed as another
    /// kind of document.</summary>
    public static byte[] Pae(string payloadType, ReadOnlySpan<byte> payload)
    {
        var type = Encoding.UTF8.GetBytes(payloadType);
        var head = Encoding.ASCII.GetBytes($"DSSEv1 {type.Length} ");
        var mid = Encoding.ASCII.GetBytes($" {payload.Length} ");
        var pae = new byte[head.Length + type.Length + mid.Length + payload.Length];
        head.CopyTo(pae, 0);
        type.CopyTo(pae, head.Length);
        mid.CopyTo(pae, head.Length + type.Length);
        payload.CopyTo(pae.AsSpan(head.Length + type.Length + mid.Length));
        return pae;
    }
}
