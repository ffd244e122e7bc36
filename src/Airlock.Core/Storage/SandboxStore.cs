using System.Text.Json;
using Airlock.Core.Backends;

namespace Airlock.Core.Storage;

/// <summary>Sandbox records as one JSON file per sandbox directory. Written atomically (temp file + rename)
/// so a crash leaves either the old record or the new one.</summary>
public sealed class SandboxStore(AirlockPaths paths)
{
    public AirlockPaths Paths => paths;

    public void Save(SandboxRecord record)
    {
        var dir = paths.Sandbox(record.Id);
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, ".sandbox.json.tmp");
        File.WriteAllBytes(tmp, JsonSerializer.SerializeToUtf8Bytes(record, CoreJson.Default.SandboxRecord));
        File.Move(tmp, paths.RecordFile(record.Id), overwrite: true);
    }

    public SandboxRecord? TryGet(string id)
    {
        if (!SandboxRecord.IsValidId(id))
        {
            return null;
        }
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(paths.RecordFile(id)), CoreJson.Default.SandboxRecord);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or JsonException)
        {
            return null;
        }
    }

    public SandboxRecord Get(string id) => TryGet(id) ?? throw new AirlockException(
        AirlockException.ErrorCodes.NotFound, $"sandbox '{id}' does not exist", "list sandboxes with: airlock sandbox ls");

    /// <summary>Ids of every sandbox directory, including half-created ones without a record.</summary>
    public IReadOnlyList<string> ListIds() =>
        Directory.Exists(paths.Sandboxes)
            ? Directory.EnumerateDirectories(paths.Sandboxes).Select(Path.GetFileName).OfType<string>().Where(SandboxRecord.IsValidId).ToList()
            : [];

    public IReadOnlyList<SandboxRecord> List() => ListIds().Select(TryGet).OfType<SandboxRecord>().OrderBy(r => r.CreatedAt).ToList();
}
