using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Airlock.Egress.Proxy;

/// <summary>
/// The certificate authority of one sandbox, for TLS termination at the egress proxy: generated in memory when the
/// sandbox starts (ECDSA P-256, short-lived), trusted only inside that sandbox (<see cref="CertificatePem"/> is what
/// the sandbox installs), and never written anywhere with its private key. It issues a leaf certificate per host on
/// demand; leaves are cached per host and share the CA's lifetime at most.
/// </summary>
public sealed class SandboxCa : IDisposable
{
    /// <summary>How long a CA lives unless told otherwise; a sandbox that outlives it needs a new CA.</summary>
    public static readonly TimeSpan DefaultValidity = TimeSpan.FromDays(7);

    // Hosts a sandbox may reach through a wildcard allow rule are unbounded; past this many, leaves are issued
    // without being cached rather than growing memory without limit.
    private const int MaxCached = 1024;
    private static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1", "Server Authentication");

    private readonly X509Certificate2 _ca;
    private readonly X509Certificate2 _caPublic;
    private readonly ECDsa _leafKey;
    private readonly ConcurrentDictionary<string, Lazy<Leaf>> _leaves = new(StringComparer.Ordinal);
    private volatile bool _disposed;

    private sealed record Leaf(X509Certificate2 Certificate, SslStreamCertificateContext Context);

    /// <summary>Generates a new CA for <paramref name="sandbox"/>.</summary>
    /// <param name="sandbox">The sandbox id (named in the subject: <c>CN=Airlock egress CA SANDBOX</c>).</param>
    /// <param name="validity">Lifetime from now (default <see cref="DefaultValidity"/>).</param>
    public SandboxCa(string sandbox, TimeSpan? validity = null)
    {
        ArgumentNullException.ThrowIfNull(sandbox);
        var life = validity ?? DefaultValidity;
        if (life <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(validity), life, "validity must be positive");
        }
        Sandbox = sandbox;
        var name = new X500DistinguishedNameBuilder();
        name.AddCommonName($"Airlock egress CA {sandbox}".Trim());
        name.AddOrganizationName("Airlock");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest(name.Build(), key, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(X509BasicConstraintsExtension.CreateForCertificateAuthority(pathLengthConstraint: 0));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, critical: false));
        var now = DateTimeOffset.UtcNow;
        // A little backdating absorbs clock differences between the host and the sandbox.
        _ca = req.CreateSelfSigned(now.AddMinutes(-5), now + life);
        _caPublic = X509CertificateLoader.LoadCertificate(_ca.RawData);
        CertificatePem = _caPublic.ExportCertificatePem() + "\n";
        // One key for every leaf of this CA: leaves differ by name only, and a key per host would cost a key
        // generation on every new host for no security gain (the CA's scope is one sandbox).
        _leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    }

    /// <summary>The sandbox this CA belongs to.</summary>
    public string Sandbox { get; }

    /// <summary>The CA certificate without its private key.</summary>
    public X509Certificate2 Certificate => _caPublic;

    /// <summary>The CA certificate in PEM: what the sandbox trusts (e.g. appended to its CA bundle).</summary>
    public string CertificatePem { get; }

    /// <summary>The leaf certificate (with private key) for <paramref name="host"/>, a DNS name or an IP literal;
    /// issued on first use and cached. Thread-safe.</summary>
    public X509Certificate2 GetLeafCertificate(string host) => GetLeaf(host).Certificate;

    /// <summary>The server-side TLS context for <paramref name="host"/> (leaf plus CA), built once per host.</summary>
    internal SslStreamCertificateContext GetServerContext(string host) => GetLeaf(host).Context;

    private Leaf GetLeaf(string host)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var key = Normalize(host);
        if (key.Length == 0)
        {
            throw new ArgumentException("a host name is required", nameof(host));
        }
        if (_leaves.TryGetValue(key, out var cached))
        {
            return cached.Value;
        }
        if (_leaves.Count >= MaxCached)
        {
            return Issue(key);
        }
        return _leaves.GetOrAdd(key, k => new Lazy<Leaf>(() => Issue(k), LazyThreadSafetyMode.ExecutionAndPublication)).Value;
    }

    private Leaf Issue(string host)
    {
        var subject = new X500DistinguishedNameBuilder();
        subject.AddCommonName(host);
        var req = new CertificateRequest(subject.Build(), _leafKey, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        if (IPAddress.TryParse(host, out var ip))
        {
            san.AddIpAddress(ip);
        }
        else
        {
            san.AddDnsName(host);
        }
        req.CertificateExtensions.Add(san.Build(critical: false));
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([ServerAuth], critical: false));
        req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, critical: false));
        req.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_caPublic, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        var now = DateTimeOffset.UtcNow;
        var notBefore = now.AddMinutes(-5) < _ca.NotBefore ? new DateTimeOffset(_ca.NotBefore) : now.AddMinutes(-5);
        var notAfter = new DateTimeOffset(_ca.NotAfter);
        var serial = new byte[16];
        RandomNumberGenerator.Fill(serial);
        serial[0] &= 0x7F;
        using var issued = req.Create(_ca, notBefore, notAfter, serial);
        var leaf = issued.CopyWithPrivateKey(_leafKey);
        var context = SslStreamCertificateContext.Create(leaf, new X509Certificate2Collection(_caPublic), offline: true);
        return new Leaf(leaf, context);
    }

    private static string Normalize(string host)
    {
        host = host.Trim().TrimEnd('.').ToLowerInvariant();
        return host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        foreach (var l in _leaves.Values)
        {
            if (l.IsValueCreated)
            {
                l.Value.Certificate.Dispose();
            }
        }
        _leaves.Clear();
        _leafKey.Dispose();
        _ca.Dispose();
        _caPublic.Dispose();
    }
}
