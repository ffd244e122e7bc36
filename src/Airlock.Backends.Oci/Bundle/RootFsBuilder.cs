namespace Airlock.Backends.Oci.Bundle;

/// <summary>
/// Builds the shared, never-written root of OCI sandboxes: an empty directory holding only mount points and the
/// symlinks of a merged-/usr host (/bin → usr/bin …), plus a synthesized /etc. The host's /etc is never exposed:
/// it holds secrets (shadow, ssh keys, credentials of installed services).
/// </summary>
public sealed class RootFsBuilder(string sharedDir)
{
    /// <summary>The result: the root directory and which host paths must be bind-mounted into it.</summary>
    public sealed record RootFs(string Root, string Etc, IReadOnlyList<string> DirBinds);

    /// <param name="mountPoints">Extra mount points: (path inside, whether it is a file).</param>
    public RootFs Prepare(IReadOnlyList<string> hostPaths, string workspacePath, IReadOnlyList<(string Path, bool IsFile)>? mountPoints = null)
    {
        mountPoints ??= [];
        var key = Core.Util.StableHash.Hex(string.Join('\n', hostPaths) + "\n" + workspacePath
            + string.Concat(mountPoints.Select(m => $"\n{(m.IsFile ? 'f' : 'd')}{m.Path}")));
        var root = Path.Combine(sharedDir, "rootfs-" + key);
        var etc = Path.Combine(sharedDir, "etc");
        var dirBinds = new List<string>();
        var symlinks = new List<(string Path, string Target)>();
        foreach (var p in hostPaths)
        {
            var info = new FileInfo(p);
            if (info.LinkTarget is { } target)
            {
                symlinks.Add((p, target));
            }
            else if (Directory.Exists(p))
            {
                dirBinds.Add(p);
            }
            // A path missing on this host (e.g. /lib64 elsewhere) is simply absent in the sandbox.
        }

        if (!Directory.Exists(root))
        {
            // Build in a temp dir and rename, so concurrent first runs never see a half-built root.
            var tmp = root + ".tmp-" + Environment.ProcessId;
            if (Directory.Exists(tmp))
            {
                Directory.Delete(tmp, true);
            }
            Directory.CreateDirectory(tmp);
            foreach (var d in new[] { "proc", "dev", "etc", "tmp", "usr", GuestPaths.RunDir.TrimStart('/') }
                         .Concat(dirBinds.Select(b => b.TrimStart('/')))
                         .Append(workspacePath.TrimStart('/')))
            {
                Directory.CreateDirectory(Path.Combine(tmp, d));
            }
            File.WriteAllBytes(Path.Combine(tmp, GuestPaths.Binary.TrimStart('/')), []);
            foreach (var (path, isFile) in mountPoints)
            {
                var point = Path.Combine(tmp, path.TrimStart('/'));
                if (isFile)
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(point)!);
                    File.WriteAllBytes(point, []);
                }
                else
                {
                    Directory.CreateDirectory(point);
                }
            }
            foreach (var (path, target) in symlinks)
            {
                var link = Path.Combine(tmp, path.TrimStart('/'));
                Directory.CreateDirectory(Path.GetDirectoryName(link)!);
                File.CreateSymbolicLink(link, target);
            }
            try
            {
                Directory.Move(tmp, root);
            }
            catch (IOException) when (Directory.Exists(root))
            {
                Directory.Delete(tmp, true);
            }
        }
        WriteEtc(etc);
        return new RootFs(root, etc, dirBinds);
    }

    private static void WriteEtc(string etc)
    {
        if (Directory.Exists(etc))
        {
            return;
        }
        var tmp = etc + ".tmp-" + Environment.ProcessId;
        Directory.CreateDirectory(tmp);
        var files = new Dictionary<string, string>
        {
            ["passwd"] = "root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/workspace:/usr/sbin/nologin\n",
            ["group"] = "root:x:0:\nnogroup:x:65534:\n",
            ["hosts"] = "127.0.0.1\tlocalhost sandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n",
            ["hostname"] = "sandbox\n",
            ["resolv.conf"] = "# no network: the sandbox has only loopback\n",
            ["nsswitch.conf"] = "passwd: files\ngroup: files\nhosts: files\n",
            ["os-release"] = "NAME=\"Airlock sandbox\"\nID=airlock\n",
        };
        foreach (var (name, content) in files)
        {
            File.WriteAllText(Path.Combine(tmp, name), content);
        }
        // The loader cache only lists library directories; it lets binaries find libraries outside the default path.
        if (File.Exists("/etc/ld.so.cache"))
        {
            File.Copy("/etc/ld.so.cache", Path.Combine(tmp, "ld.so.cache"));
        }
        try
        {
            Directory.Move(tmp, etc);
        }
        catch (IOException) when (Directory.Exists(etc))
        {
            Directory.Delete(tmp, true);
        }
    }
}
