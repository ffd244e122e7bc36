using System.Text;
using Airlock.Mcp.Manifests;
using static Airlock.Mcp.Manifests.Tests.Tools;

namespace Airlock.Mcp.Manifests.Tests;

public sealed class StoreTests : IDisposable
{
    private readonly string dir = TempDir();
    private readonly ManifestSigner signer = ManifestSigner.Create();

    public void Dispose()
    {
        signer.Dispose();
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public void Save_then_load_round_trips()
    {
        var store = new ManifestStore(Path.Combine(dir, "manifests"));
        var e = signer.Sign(Manifest());
        store.Save("fs", e);
        Assert.True(File.Exists(Path.Combine(dir, "manifests", "fs.manifest.json")));
        var back = store.Load("fs")!;
        Assert.Equal(e.PayloadType, back.PayloadType);
        Assert.Equal(e.Payload, back.Payload);
        Assert.Equal(e.Signatures, back.Signatures);
        Assert.Equal("fs", ManifestVerifier.Verify(back, [signer.PublicKeyPem], "fs").Server);
        Assert.Null(store.Load("git"));
    }

    [Fact]
    public void Serialized_envelope_uses_dsse_field_names()
    {
        var json = ManifestStore.Serialize(signer.Sign(Manifest()));
        Assert.Contains("\"payloadType\": \"application/vnd.airlock.tool-manifest+json\"", json);
        Assert.Contains("\"payload\": ", json);
        Assert.Contains("\"keyid\": \"sha256:", json);
        Assert.Contains("\"sig\": ", json);
    }

    [Fact]
    public void Save_replaces_the_file_atomically()
    {
        var store = new ManifestStore(dir);
        var v1 = signer.Sign(Manifest("fs", ReadFile));
        var v2 = signer.Sign(Manifest("fs", ReadFile, WriteFile));
        store.Save("fs", v1);
        var path = store.PathOf("fs");
        // A reader that opened the old file keeps reading the old file whole: the new one is renamed over it,
        // not written into it.
        using var reader = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        store.Save("fs", v2);
        using var text = new StreamReader(reader, Encoding.UTF8);
        Assert.Equal(v1.Payload, ManifestStore.Parse(text.ReadToEnd()).Payload);
        Assert.Equal(v2.Payload, store.Load("fs")!.Payload);
        Assert.Equal(["fs.manifest.json"], Directory.GetFiles(dir).Select(Path.GetFileName));
    }

    [Theory]
    [InlineData("../etc/passwd")]
    [InlineData("a/b")]
    [InlineData(".hidden")]
    [InlineData("..")]
    [InlineData("")]
    public void Server_names_cannot_escape_the_directory(string server)
    {
        var store = new ManifestStore(dir);
        Assert.Throws<ManifestException>(() => store.Save(server, signer.Sign(Manifest())));
        Assert.Throws<ManifestException>(() => store.Load(server));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("""{"payloadType":"x","payload":"eA=="}""")]
    [InlineData("""{"payloadType":"x","payload":"eA==","signatures":[],"extra":1}""")]
    [InlineData("""{"payloadType":"x","payload":null,"signatures":[]}""")]
    [InlineData("""{"payloadType":"x","payload":"eA==","signatures":[{"keyid":"k"}]}""")]
    [InlineData("""{"payloadType":"x","payload":"eA==","signatures":[null]}""")]
    public void Malformed_envelopes_are_rejected(string json)
    {
        Assert.Equal(ManifestException.Reasons.MalformedEnvelope, Assert.Throws<ManifestException>(() => ManifestStore.Parse(json)).Reason);
    }

    [Fact]
    public void Corrupt_file_is_an_error_naming_the_file_not_a_missing_manifest()
    {
        var store = new ManifestStore(dir);
        File.WriteAllText(store.PathOf("fs"), "{ truncated");
        var ex = Assert.Throws<ManifestException>(() => store.Load("fs"));
        Assert.Contains("fs.manifest.json", ex.Message);
    }

    [Fact]
    public void Delete_removes_the_approval()
    {
        var store = new ManifestStore(dir);
        store.Save("fs", signer.Sign(Manifest()));
        Assert.True(store.Delete("fs"));
        Assert.Null(store.Load("fs"));
        Assert.False(store.Delete("fs"));
    }
}
