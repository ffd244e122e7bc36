using Airlock.Mcp.Manifests;
using static Airlock.Mcp.Manifests.Tests.Tools;

namespace Airlock.Mcp.Manifests.Tests;

public sealed class KeyFileTests : IDisposable
{
    private readonly string dir = TempDir();

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void Key_file_is_created_0600_and_reloads_as_the_same_key()
    {
        var path = Path.Combine(dir, "keys", "approval.pem");
        string keyId, publicPem;
        DsseEnvelope signed;
        using (var first = ManifestSigner.LoadOrCreate(path))
        {
            keyId = first.KeyId;
            publicPem = first.PublicKeyPem;
            signed = first.Sign(Manifest());
        }
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", File.ReadAllText(path));
        Assert.Equal(["approval.pem"], Directory.GetFiles(Path.Combine(dir, "keys")).Select(Path.GetFileName));

        using var again = ManifestSigner.LoadOrCreate(path);
        Assert.Equal(keyId, again.KeyId);
        Assert.Equal(publicPem, again.PublicKeyPem);
        Assert.Equal("fs", ManifestVerifier.Verify(signed, [again.PublicKeyPem], "fs").Server);
    }

    [Fact]
    public void Different_files_are_different_keys()
    {
        using var a = ManifestSigner.LoadOrCreate(Path.Combine(dir, "a.pem"));
        using var b = ManifestSigner.LoadOrCreate(Path.Combine(dir, "b.pem"));
        Assert.NotEqual(a.KeyId, b.KeyId);
    }

    [Fact]
    public void Key_file_readable_by_others_is_refused()
    {
        var path = Path.Combine(dir, "approval.pem");
        using (ManifestSigner.LoadOrCreate(path))
        {
        }
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var ex = Assert.Throws<ManifestException>(() => ManifestSigner.LoadOrCreate(path));
        Assert.Equal(ManifestException.Reasons.BadKey, ex.Reason);
        Assert.Contains("chmod 600", ex.Message);
    }

    [Fact]
    public void Key_file_that_is_not_a_key_is_refused()
    {
        var path = Path.Combine(dir, "approval.pem");
        File.WriteAllText(path, "hello");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Assert.Equal(ManifestException.Reasons.BadKey, Assert.Throws<ManifestException>(() => ManifestSigner.LoadOrCreate(path)).Reason);
    }
}
