using Airlock.Backends.Oci.Native;
using Airlock.Core;

namespace Airlock.Backends.Oci;

/// <summary>
/// Keeps a state directory (bundles, runtime state, sockets) on a tmpfs of its own, as runtimes keep theirs under
/// /run: it holds nothing that outlives a reboot (the sandboxes do not), and creating and deleting a sandbox's
/// dozen small files and directories there costs a fraction of what it costs on a journaling filesystem (ext4's
/// inode allocator showed up as ~10% of the daemon's CPU when it created 50 sandboxes a second).
/// </summary>
public static class StateFs
{
    /// <summary>Mounts a tmpfs on <paramref name="dir"/> unless one is there already (a restarted daemon keeps
    /// its sandboxes' state). Returns whether it mounted one.</summary>
    public static bool Ensure(string dir, long sizeBytes)
    {
        dir = Path.GetFullPath(dir);
        if (MountTable.IsMountPoint(dir))
        {
            return false;
        }
        Directory.CreateDirectory(dir);
        if (Directory.EnumerateFileSystemEntries(dir).Any())
        {
            // State of an earlier daemon on the plain filesystem: keep using it rather than hide it under a mount.
            return false;
        }
        if (Libc.Mount("airlock-state", dir, "tmpfs", Libc.MS_NOSUID | Libc.MS_NODEV, $"size={sizeBytes},mode=0711") != 0)
        {
            var errno = Libc.Errno;
            throw new AirlockException(AirlockException.ErrorCodes.HostUnsupported,
                $"cannot mount the state tmpfs at {dir}: {Libc.ErrorText(errno)}", "run the daemon as root");
        }
        return true;
    }

    /// <summary>Unmounts the state tmpfs when nothing is mounted below it any more (no sandbox left).</summary>
    public static bool ReleaseIfEmpty(string dir)
    {
        dir = Path.GetFullPath(dir);
        if (!MountTable.IsMountPoint(dir) || MountTable.Under(dir).Count > 0)
        {
            return false;
        }
        return Libc.Umount2(dir, 0) == 0;
    }
}
