using System.Collections.Concurrent;
using System.Security.Cryptography;
using Wasmtime;

namespace Airlock.Backends.Wasm.Engine;

/// <summary>
/// Compiled modules keyed by the SHA-256 of the wasm bytes and the engine's <see cref="WasmEngine.SettingsKey"/>
/// (which includes the Wasmtime version). In memory per engine; on disk as <c>SHA-SETTINGS.cwasm</c>. Wasmtime also
/// checks a precompiled module against the engine that loads it; a file it refuses is recompiled and replaced.
/// </summary>
internal sealed class ModuleCache(WasmEngine engine, string directory)
{
    private readonly ConcurrentDictionary<string, Lazy<Module>> _modules = new(StringComparer.Ordinal);
    // Host files are trusted not to change under the same size and mtime; workspace files are always hashed, since a
    // module can rewrite a workspace file and restore its times.
    private readonly ConcurrentDictionary<string, (long Size, long MtimeTicks, string Sha)> _hostHashes = new(StringComparer.Ordinal);
    private long _memoryHits, _diskHits, _compiled, _rejected;

    public string Directory => directory;

    public ModuleCacheStats Stats => new(
        Interlocked.Read(ref _memoryHits), Interlocked.Read(ref _diskHits), Interlocked.Read(ref _compiled), Interlocked.Read(ref _rejected));

    public string FileFor(string sha) => Path.Combine(directory, $"{sha}-{engine.SettingsKey}.cwasm");

    /// <summary>The module in a host file that only the host can change.</summary>
    public Module GetHostFile(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new FileNotFoundException($"module {path} does not exist", path);
        }
        var stamp = (info.Length, info.LastWriteTimeUtc.Ticks);
        if (_hostHashes.TryGetValue(path, out var known) && (known.Size, known.MtimeTicks) == stamp
            && _modules.TryGetValue(known.Sha, out var cached) && cached.IsValueCreated)
        {
            Interlocked.Increment(ref _memoryHits);
            return cached.Value;
        }
        var bytes = File.ReadAllBytes(path);
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        _hostHashes[path] = (stamp.Length, stamp.Ticks, sha);
        return Get(sha, bytes);
    }

    /// <summary>The module with these bytes.</summary>
    public Module Get(ReadOnlySpan<byte> wasm) => Get(Convert.ToHexStringLower(SHA256.HashData(wasm)), wasm.ToArray());

    private Module Get(string sha, byte[] wasm)
    {
        var lazy = _modules.GetOrAdd(sha, s => new Lazy<Module>(() => Load(s, wasm), LazyThreadSafetyMode.ExecutionAndPublication));
        if (lazy.IsValueCreated)
        {
            Interlocked.Increment(ref _memoryHits);
            return lazy.Value;
        }
        try
        {
            return lazy.Value;
        }
        catch
        {
            // Do not remember a failure (e.g. invalid wasm): the next call reports it again with its own bytes.
            _modules.TryRemove(new KeyValuePair<string, Lazy<Module>>(sha, lazy));
            throw;
        }
    }

    private Module Load(string sha, byte[] wasm)
    {
        var file = FileFor(sha);
        if (File.Exists(file))
        {
            try
            {
                var module = Module.DeserializeFile(engine.Engine, sha, file);
                Interlocked.Increment(ref _diskHits);
                return module;
            }
            catch (WasmtimeException)
            {
                Interlocked.Increment(ref _rejected);
            }
        }
        var compiled = Module.FromBytes(engine.Engine, sha, wasm);
        Interlocked.Increment(ref _compiled);
        Write(file, compiled.Serialize());
        return compiled;
    }

    private void Write(string file, byte[] bytes)
    {
        System.IO.Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var tmp = $"{file}.{Environment.ProcessId}.{Environment.CurrentManagedThreadId}.tmp";
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, file, overwrite: true);
    }
}
