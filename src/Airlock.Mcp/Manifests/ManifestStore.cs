using System.Text.Json;

namespace Airlock.Mcp.Manifests;

/// <summary>
/// Approved manifests on disk: one file per server, <c>&lt;dir&gt;/&lt;server&gt;.manifest.json</c>, holding the
/// DSSE envelope as JSON. The store does not verify; whoever loads verifies (<see cref="ManifestVerifier"/>).
/// </summary>
public sealed class ManifestStore(string directory)
{
    private const UnixFileMode OwnerOnlyDir = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Directory the manifests live in.</summary>
    public string Root { get; } = Path.GetFullPath(directory);

    /// <summary>A server name that is safe as a file name: 1-128 of letters, digits, '.', '_' or '-', not starting
    /// with '.'.</summary>
    public static bool IsValidServerName(string? server) =>
        server is { Length: >= 1 and <= 128 } && server[0] != '.'
        && !server.AsSpan().ContainsAnyExcept("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");

    /// <summary>Path of the manifest file of <paramref name="server"/>.</summary>
    /// <exception cref="ManifestException">The name is not <see cref="IsValidServerName"/>.</exception>
    public string PathOf(string server) => IsValidServerName(server)
        ? Path.Combine(Root, server + ".manifest.json")
        : throw new ManifestException(ManifestException.Reasons.Invalid,
            $"server name '{server}' cannot name a manifest file (1-128 letters, digits, '.', '_' or '-', not starting with '.')");

    /// <summary>Writes the envelope atomically: a reader sees the old file or the new one, never a torn one.</summary>
    public void Save(string server, DsseEnvelope envelope)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        var path = PathOf(server);
        if (!Directory.Exists(Root))
        {
            Directory.CreateDirectory(Root, OwnerOnlyDir);
        }
        var tmp = Path.Combine(Root, $".{server}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write))
            {
                JsonSerializer.Serialize(fs, envelope, ManifestJson.Readable.DsseEnvelope);
                fs.WriteByte((byte)'\n');
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            File.Delete(tmp);
        }
    }

    /// <summary>The stored envelope, or null when the server has none.</summary>
    /// <exception cref="ManifestException">The file exists but is not an envelope (reason malformed-envelope).</exception>
    public DsseEnvelope? Load(string server)
    {
        var path = PathOf(server);
        string json;
        try
        {
            json = File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        try
        {
            return Parse(json);
        }
        catch (ManifestException e)
        {
            throw new ManifestException(e.Reason, $"{path}: {e.Message}");
        }
    }

    /// <summary>Removes the manifest of <paramref name="server"/> (its tools become unsigned); true if there was one.</summary>
    public bool Delete(string server)
    {
        var path = PathOf(server);
        if (!File.Exists(path))
        {
            return false;
        }
        File.Delete(path);
        return true;
    }

    /// <summary>An envelope from JSON; unknown, missing or null fields are errors.</summary>
    /// <exception cref="ManifestException">Reason malformed-envelope.</exception>
    public static DsseEnvelope Parse(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        DsseEnvelope? e;
        try
        {
            e = JsonSerializer.Deserialize(json, ManifestJson.Readable.DsseEnvelope);
        }
        catch (JsonException ex)
        {
            throw new ManifestException(ManifestException.Reasons.MalformedEnvelope, $"not a DSSE envelope: {ex.Message}");
        }
        if (e is null || e.Signatures.Any(s => s is null))
        {
            throw new ManifestException(ManifestException.Reasons.MalformedEnvelope, "not a DSSE envelope: null where an object is required");
        }
        return e;
    }

    /// <summary>The envelope as indented JSON (<c>payloadType</c>, <c>payload</c>, <c>signatures[{keyid, sig}]</c>).</summary>
    public static string Serialize(DsseEnvelope e) => JsonSerializer.Serialize(e, ManifestJson.Readable.DsseEnvelope);
}
