namespace Airlock.Mcp.Manifests;

/// <summary>A manifest, its envelope, a key or the store is unusable; <see cref="Exception.Message"/> says why and
/// <see cref="Reason"/> is a stable code to match on.</summary>
public sealed class ManifestException(string message) : Exception(message)
{
    public ManifestException(string reason, string message) : this(message) => Reason = reason;

    /// <summary>One of <see cref="Reasons"/>; <see cref="Reasons.Invalid"/> when not given.</summary>
    public string Reason { get; } = Reasons.Invalid;

    /// <summary>Stable reason codes (the gateway audits and reports them).</summary>
    public static class Reasons
    {
        /// <summary>Anything without a more specific code.</summary>
        public const string Invalid = "invalid";
        /// <summary>The envelope is not DSSE JSON, or a field is not valid base64.</summary>
        public const string MalformedEnvelope = "malformed-envelope";
        /// <summary>The envelope's payloadType is not <see cref="Dsse.PayloadType"/>.</summary>
        public const string WrongPayloadType = "wrong-payload-type";
        /// <summary>No signature was made by a trusted key (unsigned, or signed only by unknown keys).</summary>
        public const string NoTrustedSignature = "no-trusted-signature";
        /// <summary>A signature claims a trusted key but does not verify: forged or tampered.</summary>
        public const string BadSignature = "bad-signature";
        /// <summary>The signed payload is not a canonical tool manifest.</summary>
        public const string MalformedPayload = "malformed-payload";
        /// <summary>The manifest was signed for another server.</summary>
        public const string ServerMismatch = "server-mismatch";
        /// <summary>A key (PEM) is unreadable, not ECDSA P-256, or has unsafe file permissions.</summary>
        public const string BadKey = "bad-key";
    }
}
