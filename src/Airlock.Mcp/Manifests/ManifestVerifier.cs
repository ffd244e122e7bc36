using System.Security.Cryptography;

namespace Airlock.Mcp.Manifests;

/// <summary>Checks a signed manifest before anything in it is trusted.</summary>
public static class ManifestVerifier
{
    /// <summary>More signatures than this on one envelope is refused (each may cost a verification per key).</summary>
    public const int MaxSignatures = 16;

    /// <summary>
    /// Verifies that at least one signature was made by one of <paramref name="trustedPublicKeyPems"/> over the DSSE
    /// PAE of the payload, then parses the payload (only then) and checks it is for <paramref name="expectedServer"/>.
    /// </summary>
    /// <remarks>A signature's keyid only chooses which key to try first; a signature is accepted only if it verifies
    /// (ECDSA P-256, SHA-256, IEEE P1363: exactly 64 bytes, nothing else is tried). The payload must be exactly the
    /// canonical form, so one manifest has one signed byte string.</remarks>
    /// <exception cref="ManifestException">With <see cref="ManifestException.Reason"/> one of wrong-payload-type,
    /// malformed-envelope, no-trusted-signature, bad-signature, malformed-payload, server-mismatch, bad-key (a
    /// trusted PEM is unusable).</exception>
    public static ToolManifest Verify(DsseEnvelope envelope, IEnumerable<string> trustedPublicKeyPems, string expectedServer)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        ArgumentNullException.ThrowIfNull(trustedPublicKeyPems);
        ArgumentNullException.ThrowIfNull(expectedServer);
        if (envelope.PayloadType != Dsse.PayloadType)
        {
            throw new ManifestException(ManifestException.Reasons.WrongPayloadType,
                $"envelope payloadType is '{Clip(envelope.PayloadType)}', not '{Dsse.PayloadType}'");
        }
        var payload = Base64(envelope.Payload) ?? throw new ManifestException(ManifestException.Reasons.MalformedEnvelope, "envelope payload is not base64");
        if (envelope.Signatures is not { Count: > 0 } signatures)
        {
            throw new ManifestException(ManifestException.Reasons.NoTrustedSignature, $"manifest for '{expectedServer}' is unsigned (the envelope has no signatures)");
        }
        if (signatures.Count > MaxSignatures)
        {
            throw new ManifestException(ManifestException.Reasons.MalformedEnvelope, $"envelope has {signatures.Count} signatures; at most {MaxSignatures} are accepted");
        }
        var keys = new List<(string Id, ECDsa Key)>();
        try
        {
            var n = 0;
            foreach (var pem in trustedPublicKeyPems)
            {
                var key = ManifestKeys.Import(pem, $"trusted key #{++n}", requirePrivate: false);
                keys.Add((ManifestKeys.KeyId(key), key));
            }
            if (keys.Count == 0)
            {
                throw new ManifestException(ManifestException.Reasons.NoTrustedSignature, "no trusted keys are configured, so no signature can be trusted");
            }
            CheckSignatures(Dsse.Pae(envelope.PayloadType, payload), signatures, keys);
        }
        finally
        {
            foreach (var (_, key) in keys)
            {
                key.Dispose();
            }
        }
        var manifest = ManifestCanonical.Parse(payload);
        if (manifest.Server != expectedServer)
        {
            throw new ManifestException(ManifestException.Reasons.ServerMismatch,
                $"manifest was signed for server '{Clip(manifest.Server)}', not '{expectedServer}'");
        }
        return manifest;
    }

    /// <summary>The key id (<c>sha256:&lt;hex of SubjectPublicKeyInfo DER&gt;</c>) of a PEM public key.</summary>
    /// <exception cref="ManifestException">Not a PEM ECDSA P-256 key.</exception>
    public static string KeyIdOf(string publicKeyPem)
    {
        using var key = ManifestKeys.Import(publicKeyPem, "public key", requirePrivate: false);
        return ManifestKeys.KeyId(key);
    }

    private static void CheckSignatures(byte[] pae, IReadOnlyList<DsseSignature> signatures, List<(string Id, ECDsa Key)> keys)
    {
        string? badKey = null;
        foreach (var s in signatures)
        {
            if (s is null)
            {
                continue;
            }
            var named = keys.Where(k => k.Id == s.KeyId).ToList();
            var sig = Base64(s.Sig);
            // The keyid is an unauthenticated hint: with no match every trusted key is tried.
            foreach (var (id, key) in named.Count > 0 ? named : keys)
            {
                if (sig is { Length: 64 } && key.VerifyData(pae, sig, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation))
                {
                    return;
                }
            }
            if (named.Count > 0)
            {
                badKey ??= s.KeyId;
            }
        }
        if (badKey is not null)
        {
            throw new ManifestException(ManifestException.Reasons.BadSignature,
                $"the signature by trusted key {badKey} does not verify: the manifest or its signature was changed after signing");
        }
        var by = string.Join(", ", signatures.Where(s => s is not null).Select(s => string.IsNullOrEmpty(s.KeyId) ? "(no keyid)" : Clip(s.KeyId)));
        throw new ManifestException(ManifestException.Reasons.NoTrustedSignature,
            $"no signature by a trusted key (signed by {by}; trusted: {string.Join(", ", keys.Select(k => k.Id))})");
    }

    /// <summary>Standard or URL-safe base64, as DSSE allows; null if neither.</summary>
    private static byte[]? Base64(string? s)
    {
        if (s is null)
        {
            return null;
        }
        if (s.Contains('-') || s.Contains('_'))
        {
            s = s.Replace('-', '+').Replace('_', '/');
            s = s.PadRight(s.Length + ((4 - (s.Length % 4)) % 4), '=');
        }
        var buffer = new byte[s.Length * 3 / 4 + 3];
        return Convert.TryFromBase64String(s, buffer, out var written) ? buffer[..written] : null;
    }

    private static string Clip(string? s) => s is null ? "(null)" : s.Length > 80 ? s[..80] + "…" : s;
}
