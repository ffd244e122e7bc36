using Airlock.Core;
using Airlock.Mcp.Manifests;

namespace Airlock.Mcp.Gateway;

/// <summary>Approved manifests as the gateway trusts them: from the config's manifest store, verified against the
/// local signing key and the configured publisher keys, for the server they name.</summary>
public sealed class ManifestTrust
{
    private readonly ManifestStore _store;
    private readonly List<string> _keys;

    public ManifestTrust(GatewayConfig config, string? localPublicKeyPem)
    {
        _store = new ManifestStore(config.Manifests);
        _keys = [];
        foreach (var path in config.TrustedKeys)
        {
            try
            {
                _keys.Add(File.ReadAllText(path));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new AirlockException(AirlockException.ErrorCodes.File, $"trustedKeys: cannot read '{path}': {e.Message}", "give the path of a PEM public key");
            }
        }
        if (localPublicKeyPem is not null)
        {
            _keys.Add(localPublicKeyPem);
        }
    }

    public ManifestStore Store => _store;

    /// <summary>The public half of the local signing key, when the key exists (the gateway never creates it).</summary>
    public static string? LocalPublicKey(GatewayConfig config)
    {
        if (!File.Exists(config.SigningKey))
        {
            return null;
        }
        using var signer = ManifestSigner.LoadOrCreate(config.SigningKey);
        return signer.PublicKeyPem;
    }

    /// <summary>The verified manifest, or null: with no reason when the server has none, with the reason when it
    /// was rejected (forged, tampered, for another server, unreadable).</summary>
    public (ToolManifest? Manifest, string? Rejected) Load(string server)
    {
        try
        {
            return _store.Load(server) is { } envelope
                ? (ManifestVerifier.Verify(envelope, _keys, server), null)
                : (null, null);
        }
        catch (ManifestException e)
        {
            return (null, $"{e.Reason}: {e.Message}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, "unreadable: " + e.Message);
        }
    }
}
