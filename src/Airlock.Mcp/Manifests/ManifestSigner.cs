using System.Security.Cryptography;
using System.Text;

namespace Airlock.Mcp.Manifests;

/// <summary>
/// Signs tool manifests with an ECDSA P-256 key: the gateway's local approval key, or a publisher's key
/// (<c>airlock mcp sign</c>). Signatures are SHA-256, IEEE P1363 (r‖s, 64 bytes), over the DSSE PAE.
/// </summary>
/// <remarks>ECDSA P-256 rather than Ed25519 because it is in the BCL (no native dependency, NativeAOT-safe).</remarks>
public sealed class ManifestSigner : IDisposable
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private readonly ECDsa key;

    private ManifestSigner(ECDsa key)
    {
        this.key = key;
        KeyId = ManifestKeys.KeyId(key);
        PublicKeyPem = key.ExportSubjectPublicKeyInfoPem();
    }

    /// <summary><c>sha256:&lt;hex of SubjectPublicKeyInfo DER&gt;</c>.</summary>
    public string KeyId { get; }

    /// <summary>The public key (<c>BEGIN PUBLIC KEY</c>) to configure as trusted where manifests are verified.</summary>
    public string PublicKeyPem { get; }

    /// <summary>A new key held only in memory.</summary>
    public static ManifestSigner Create() => new(ECDsa.Create(ECCurve.NamedCurves.nistP256));

    /// <summary>
    /// The key in <paramref name="privateKeyPemPath"/>; when the file does not exist a new key is written there
    /// (PKCS#8 PEM, mode 0600, atomically: two processes racing end up with the same key).
    /// </summary>
    /// <exception cref="ManifestException">The file is not a P-256 private key, or group/others may access it.</exception>
    public static ManifestSigner LoadOrCreate(string privateKeyPemPath)
    {
        var path = Path.GetFullPath(privateKeyPemPath);
        if (!File.Exists(path))
        {
            var dir = Path.GetDirectoryName(path)!;
            if (!Directory.Exists(dir))
            {
                Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            using var fresh = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var tmp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
            try
            {
                // Created 0600 from the first byte: the key is never readable by others, not even briefly.
                using (var fs = new FileStream(tmp, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = OwnerOnly }))
                {
                    fs.Write(Encoding.ASCII.GetBytes(fresh.ExportPkcs8PrivateKeyPem() + "\n"));
                    fs.Flush(flushToDisk: true);
                }
                File.SetUnixFileMode(tmp, OwnerOnly);
                File.Move(tmp, path, overwrite: false);
            }
            catch (IOException) when (File.Exists(path))
            {
                // Another process created the key first; use theirs.
            }
            finally
            {
                File.Delete(tmp);
            }
        }
        var mode = File.GetUnixFileMode(path);
        if ((mode & ~(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute)) != 0)
        {
            throw new ManifestException(ManifestException.Reasons.BadKey,
                $"signing key '{path}' may be accessed by group or others (mode {Convert.ToString((int)mode, 8)}); run: chmod 600 '{path}'");
        }
        string pem;
        try
        {
            pem = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ManifestException(ManifestException.Reasons.BadKey, $"cannot read signing key '{path}': {e.Message}");
        }
        return FromPem(pem, $"signing key '{path}'");
    }

    /// <summary>A signer from a private key PEM (PKCS#8 <c>PRIVATE KEY</c> or SEC1 <c>EC PRIVATE KEY</c>).</summary>
    /// <exception cref="ManifestException">Not a P-256 private key.</exception>
    public static ManifestSigner FromPem(string privateKeyPem) => FromPem(privateKeyPem, "signing key");

    private static ManifestSigner FromPem(string pem, string what) => new(ManifestKeys.Import(pem, what, requirePrivate: true));

    /// <summary>The private key as PKCS#8 PEM, for <c>airlock mcp keygen</c>-style export.</summary>
    public string ExportPrivateKeyPem() => key.ExportPkcs8PrivateKeyPem();

    /// <summary>Canonicalizes <paramref name="manifest"/> and signs it into a one-signature envelope.</summary>
    /// <exception cref="ManifestException">The manifest lists a tool name twice.</exception>
    public DsseEnvelope Sign(ToolManifest manifest)
    {
        var payload = ManifestCanonical.Canonicalize(manifest);
        var sig = key.SignData(Dsse.Pae(Dsse.PayloadType, payload), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return new DsseEnvelope(Dsse.PayloadType, Convert.ToBase64String(payload), [new DsseSignature(KeyId, Convert.ToBase64String(sig))]);
    }

    public void Dispose() => key.Dispose();
}

/// <summary>Key import and key ids shared by the signer and the verifier.</summary>
internal static class ManifestKeys
{
    private const string P256Oid = "1.2.840.10045.3.1.7";

    public static string KeyId(ECDsa key) => ManifestCanonical.Sha256(key.ExportSubjectPublicKeyInfo());

    /// <summary>An ECDSA P-256 key from PEM; anything else is a <see cref="ManifestException"/> naming
    /// <paramref name="what"/>.</summary>
    public static ECDsa Import(string pem, string what, bool requirePrivate)
    {
        ArgumentNullException.ThrowIfNull(pem);
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(pem);
            var p = key.ExportParameters(includePrivateParameters: requirePrivate);
            if (key.KeySize != 256 || !(p.Curve.Oid.Value == P256Oid || p.Curve.Oid.FriendlyName is "nistP256" or "ECDSA_P256" or "prime256v1" or "secp256r1"))
            {
                throw new ManifestException(ManifestException.Reasons.BadKey, $"{what} is not an ECDSA P-256 key");
            }
            return key;
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            key.Dispose();
            throw new ManifestException(ManifestException.Reasons.BadKey,
                $"{what} is not a PEM ECDSA P-256 {(requirePrivate ? "private" : "public")} key: {e.Message}");
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }
}
