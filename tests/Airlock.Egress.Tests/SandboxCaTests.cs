using System.Net;
using System.Security.Cryptography.X509Certificates;
using Airlock.Egress.Proxy;

namespace Airlock.Egress.Tests;

/// <summary>The per-sandbox CA: what it is, what its leaves name, that only it makes them trusted, and that no two
/// sandboxes share one.</summary>
public sealed class SandboxCaTests
{
    private static X509Chain Chain(X509Certificate2? root)
    {
        var chain = new X509Chain();
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        if (root is not null)
        {
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(root);
        }
        return chain;
    }

    [Fact]
    public void TheCaIsAShortLivedCertificateAuthorityNamedForItsSandbox()
    {
        using var ca = new SandboxCa("sbx-1");
        using var cert = X509Certificate2.CreateFromPem(ca.CertificatePem);
        Assert.Contains("CN=Airlock egress CA sbx-1", cert.Subject);
        Assert.Equal(cert.Subject, cert.Issuer);
        var bc = cert.Extensions.OfType<X509BasicConstraintsExtension>().Single();
        Assert.True(bc.CertificateAuthority);
        Assert.True(cert.Extensions.OfType<X509KeyUsageExtension>().Single().KeyUsages.HasFlag(X509KeyUsageFlags.KeyCertSign));
        Assert.InRange(cert.NotAfter - cert.NotBefore, TimeSpan.FromDays(7), TimeSpan.FromDays(7) + TimeSpan.FromMinutes(10));
        using var key = cert.GetECDsaPublicKey();
        Assert.Equal(256, key?.KeySize);
        Assert.DoesNotContain("PRIVATE KEY", ca.CertificatePem);
        Assert.False(ca.Certificate.HasPrivateKey);
    }

    [Fact]
    public void LeavesNameTheirHostAndAreTrustedOnlyThroughTheCa()
    {
        using var ca = new SandboxCa("sbx-1");
        var leaf = ca.GetLeafCertificate("api.allowed.test");
        Assert.True(leaf.HasPrivateKey);
        Assert.True(leaf.MatchesHostname("api.allowed.test"));
        Assert.False(leaf.MatchesHostname("other.allowed.test"));
        Assert.False(leaf.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.True(leaf.NotAfter <= ca.Certificate.NotAfter);
        using (var trusted = Chain(ca.Certificate))
        {
            Assert.True(trusted.Build(leaf));
        }
        using var system = Chain(null);
        Assert.False(system.Build(leaf));

        var ip = ca.GetLeafCertificate("127.0.0.1");
        var san = ip.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Equal([IPAddress.Loopback], san.EnumerateIPAddresses());
    }

    [Fact]
    public async Task LeavesAreCachedPerHostAcrossThreads()
    {
        using var ca = new SandboxCa("sbx-1");
        var leaves = await Task.WhenAll(Enumerable.Range(0, 32).Select(i =>
            Task.Run(() => ca.GetLeafCertificate(i % 2 == 0 ? "api.allowed.test" : "API.Allowed.Test."))));
        Assert.Single(leaves.Distinct());
        Assert.NotSame(leaves[0], ca.GetLeafCertificate("other.allowed.test"));
    }

    [Fact]
    public void TwoSandboxesHaveDifferentCasAndOnesLeavesDoNotChainToTheOther()
    {
        using var a = new SandboxCa("sbx-a");
        using var b = new SandboxCa("sbx-b");
        Assert.NotEqual(a.CertificatePem, b.CertificatePem);
        Assert.NotEqual(a.Certificate.GetPublicKey(), b.Certificate.GetPublicKey());
        using var chain = Chain(b.Certificate);
        Assert.False(chain.Build(a.GetLeafCertificate("api.allowed.test")));
    }

    [Fact]
    public void ADisposedCaIssuesNothing()
    {
        var ca = new SandboxCa("sbx-1");
        ca.Dispose();
        Assert.Throws<ObjectDisposedException>(() => ca.GetLeafCertificate("api.allowed.test"));
    }
}
