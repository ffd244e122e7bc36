using System.Security.Cryptography;
using System.Text;
using Airlock.Mcp.Manifests;
using static Airlock.Mcp.Manifests.Tests.Tools;

namespace Airlock.Mcp.Manifests.Tests;

public sealed class SigningTests : IDisposable
{
    private readonly ManifestSigner local = ManifestSigner.Create();
    private readonly ManifestSigner attacker = ManifestSigner.Create();

    public void Dispose()
    {
        local.Dispose();
        attacker.Dispose();
    }

    private static ManifestException Rejected(DsseEnvelope e, IEnumerable<string> trusted, string server, string reason)
    {
        var ex = Assert.Throws<ManifestException>(() => ManifestVerifier.Verify(e, trusted, server));
        Assert.Equal(reason, ex.Reason);
        return ex;
    }

    /// <summary>Signs arbitrary payload bytes with the local key, bypassing the canonicalizer.</summary>
    private DsseEnvelope SignRaw(byte[] payload, string payloadType = Dsse.PayloadType, DSASignatureFormat format = DSASignatureFormat.IeeeP1363FixedFieldConcatenation)
    {
        using var key = ECDsa.Create();
        key.ImportFromPem(local.ExportPrivateKeyPem());
        var sig = key.SignData(Dsse.Pae(payloadType, payload), HashAlgorithmName.SHA256, format);
        return new DsseEnvelope(payloadType, Convert.ToBase64String(payload), [new DsseSignature(local.KeyId, Convert.ToBase64String(sig))]);
    }

    [Fact]
    public void Sign_then_verify_round_trips()
    {
        var m = Manifest();
        var e = local.Sign(m);
        Assert.Equal(Dsse.PayloadType, e.PayloadType);
        Assert.Equal(ManifestCanonical.Canonicalize(m), Convert.FromBase64String(e.Payload));
        var sig = Assert.Single(e.Signatures);
        Assert.Equal(local.KeyId, sig.KeyId);
        Assert.Equal(64, Convert.FromBase64String(sig.Sig).Length); // IEEE P1363 r||s

        var back = ManifestVerifier.Verify(e, [local.PublicKeyPem], "fs");
        Assert.Equal("fs", back.Server);
        Assert.Equal("alice", back.Approver);
        Assert.Equal(m.ApprovedAt, back.ApprovedAt);
        Assert.Equal(ManifestCanonical.Canonicalize(m), ManifestCanonical.Canonicalize(back));
        Assert.Equal(["read_file", "write_file"], back.Tools.Select(t => t.Name));
        Assert.Equal(ManifestCanonical.ToolDigest(ReadFile), ManifestCanonical.ToolDigest(back.Tools[0]));
    }

    [Fact]
    public void Pae_is_the_dsse_v1_encoding()
    {
        Assert.Equal("DSSEv1 29 http://example.com/HelloWorld 11 hello world",
            Encoding.UTF8.GetString(Dsse.Pae("http://example.com/HelloWorld", "hello world"u8)));
    }

    [Fact]
    public void KeyId_is_sha256_of_the_subject_public_key_info()
    {
        using var key = ECDsa.Create();
        key.ImportFromPem(local.PublicKeyPem);
        Assert.Equal("sha256:" + Convert.ToHexStringLower(SHA256.HashData(key.ExportSubjectPublicKeyInfo())), local.KeyId);
        Assert.Equal(local.KeyId, ManifestVerifier.KeyIdOf(local.PublicKeyPem));
        Assert.StartsWith("-----BEGIN PUBLIC KEY-----", local.PublicKeyPem);
    }

    [Fact]
    public void Manifest_signed_by_an_untrusted_key_is_rejected()
    {
        var forged = attacker.Sign(Manifest());
        var ex = Rejected(forged, [local.PublicKeyPem], "fs", ManifestException.Reasons.NoTrustedSignature);
        Assert.Contains(attacker.KeyId, ex.Message);
    }

    [Fact]
    public void Forged_signature_claiming_the_trusted_keyid_is_rejected()
    {
        var forged = attacker.Sign(Manifest());
        forged = forged with { Signatures = [forged.Signatures[0] with { KeyId = local.KeyId }] };
        Rejected(forged, [local.PublicKeyPem], "fs", ManifestException.Reasons.BadSignature);
    }

    [Fact]
    public void Tampered_payload_is_rejected()
    {
        var e = local.Sign(Manifest());
        var payload = Convert.FromBase64String(e.Payload);
        var at = Encoding.UTF8.GetString(payload).IndexOf("Reads a file", StringComparison.Ordinal);
        Assert.True(at > 0);
        payload[at] = (byte)'r'; // one byte of one description
        var tampered = e with { Payload = Convert.ToBase64String(payload) };
        Rejected(tampered, [local.PublicKeyPem], "fs", ManifestException.Reasons.BadSignature);
    }

    [Fact]
    public void Tampered_signature_is_rejected()
    {
        var e = local.Sign(Manifest());
        var sig = Convert.FromBase64String(e.Signatures[0].Sig);
        sig[10] ^= 0x01;
        Rejected(e with { Signatures = [e.Signatures[0] with { Sig = Convert.ToBase64String(sig) }] }, [local.PublicKeyPem], "fs", ManifestException.Reasons.BadSignature);
        Rejected(e with { Signatures = [e.Signatures[0] with { Sig = "not base64!" }] }, [local.PublicKeyPem], "fs", ManifestException.Reasons.BadSignature);
    }

    [Fact]
    public void Der_signatures_are_not_accepted()
    {
        // One format, verified strictly: P1363 only, even though a DER signature by the same key is mathematically valid.
        var der = SignRaw(ManifestCanonical.Canonicalize(Manifest()), format: DSASignatureFormat.Rfc3279DerSequence);
        Rejected(der, [local.PublicKeyPem], "fs", ManifestException.Reasons.BadSignature);
    }

    [Fact]
    public void Wrong_payload_type_is_rejected()
    {
        var e = local.Sign(Manifest());
        Rejected(e with { PayloadType = "application/vnd.in-toto+json" }, [local.PublicKeyPem], "fs", ManifestException.Reasons.WrongPayloadType);
        // Correctly signed under another type: still not a tool manifest.
        Rejected(SignRaw(ManifestCanonical.Canonicalize(Manifest()), "application/json"), [local.PublicKeyPem], "fs", ManifestException.Reasons.WrongPayloadType);
    }

    [Fact]
    public void Manifest_of_another_server_is_rejected()
    {
        var e = local.Sign(Manifest("fs"));
        var ex = Rejected(e, [local.PublicKeyPem], "git", ManifestException.Reasons.ServerMismatch);
        Assert.Contains("'fs'", ex.Message);
        Assert.Contains("'git'", ex.Message);
    }

    [Fact]
    public void Unsigned_envelope_is_rejected()
    {
        var e = local.Sign(Manifest()) with { Signatures = [] };
        Rejected(e, [local.PublicKeyPem], "fs", ManifestException.Reasons.NoTrustedSignature);
    }

    [Fact]
    public void No_trusted_keys_trusts_nothing()
    {
        Rejected(local.Sign(Manifest()), [], "fs", ManifestException.Reasons.NoTrustedSignature);
    }

    [Fact]
    public void Validly_signed_but_not_canonical_payload_is_rejected()
    {
        var pretty = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(ManifestCanonical.Canonicalize(Manifest())).Replace(",\"server\"", ", \"server\""));
        var ex = Rejected(SignRaw(pretty), [local.PublicKeyPem], "fs", ManifestException.Reasons.MalformedPayload);
        Assert.Contains("canonical", ex.Message);
        Rejected(SignRaw("not json"u8.ToArray()), [local.PublicKeyPem], "fs", ManifestException.Reasons.MalformedPayload);
        Rejected(SignRaw("""{"approvedAt":"2025-03-01T12:30:15Z","server":"fs","tools":[],"version":2}"""u8.ToArray()), [local.PublicKeyPem], "fs", ManifestException.Reasons.MalformedPayload);
        Rejected(SignRaw("""{"approvedAt":"2025-03-01T12:30:15Z","extra":1,"server":"fs","tools":[],"version":1}"""u8.ToArray()), [local.PublicKeyPem], "fs", ManifestException.Reasons.MalformedPayload);
        // And the minimal canonical one is accepted, so the rejections above are about form, not the key.
        Assert.Empty(ManifestVerifier.Verify(SignRaw("""{"approvedAt":"2025-03-01T12:30:15Z","server":"fs","tools":[],"version":1}"""u8.ToArray()), [local.PublicKeyPem], "fs").Tools);
    }

    [Fact]
    public void Url_safe_base64_is_accepted()
    {
        var e = local.Sign(Manifest());
        static string UrlSafe(string b64) => b64.TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var url = e with { Payload = UrlSafe(e.Payload), Signatures = [e.Signatures[0] with { Sig = UrlSafe(e.Signatures[0].Sig) }] };
        Assert.Equal("fs", ManifestVerifier.Verify(url, [local.PublicKeyPem], "fs").Server);
    }

    [Fact]
    public void Publisher_signed_manifest_verifies_with_its_configured_public_key()
    {
        var dir = TempDir();
        try
        {
            // Publisher side: its own key file, signs, ships the envelope and its public key.
            string shipped, publisherPub;
            using (var publisher = ManifestSigner.LoadOrCreate(Path.Combine(dir, "publisher", "key.pem")))
            {
                shipped = ManifestStore.Serialize(publisher.Sign(Manifest("everything", "acme")));
                publisherPub = publisher.PublicKeyPem;
            }
            File.WriteAllText(Path.Combine(dir, "acme.pub"), publisherPub);

            // Gateway side: only the configured public key (plus its own, which did not sign this).
            var envelope = ManifestStore.Parse(shipped);
            var trusted = new[] { local.PublicKeyPem, File.ReadAllText(Path.Combine(dir, "acme.pub")) };
            var m = ManifestVerifier.Verify(envelope, trusted, "everything");
            Assert.Equal("acme", m.Approver);
            Assert.Equal(2, m.Tools.Count);

            // Without the publisher key configured, the same manifest is not trusted.
            Rejected(envelope, [local.PublicKeyPem], "everything", ManifestException.Reasons.NoTrustedSignature);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Co_signed_envelope_verifies_with_either_key()
    {
        var m = Manifest();
        var a = attacker.Sign(m);
        var b = local.Sign(m);
        var both = a with { Signatures = [a.Signatures[0], b.Signatures[0]] };
        Assert.Equal("fs", ManifestVerifier.Verify(both, [local.PublicKeyPem], "fs").Server);
    }

    [Fact]
    public void Unusable_trusted_keys_are_reported()
    {
        var e = local.Sign(Manifest());
        Rejected(e, ["not a pem"], "fs", ManifestException.Reasons.BadKey);
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        Rejected(e, [p384.ExportSubjectPublicKeyInfoPem()], "fs", ManifestException.Reasons.BadKey);
        using var rsa = RSA.Create(2048);
        Rejected(e, [rsa.ExportSubjectPublicKeyInfoPem()], "fs", ManifestException.Reasons.BadKey);
        Assert.Equal(ManifestException.Reasons.BadKey, Assert.Throws<ManifestException>(() => ManifestSigner.FromPem(local.PublicKeyPem)).Reason);
    }

    [Fact]
    public void Signer_from_pem_signs_as_the_same_key()
    {
        using var again = ManifestSigner.FromPem(local.ExportPrivateKeyPem());
        Assert.Equal(local.KeyId, again.KeyId);
        Assert.Equal("fs", ManifestVerifier.Verify(again.Sign(Manifest()), [local.PublicKeyPem], "fs").Server);
    }
}
