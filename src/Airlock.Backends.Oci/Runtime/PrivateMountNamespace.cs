using Airlock.Backends.Oci.Native;
using Airlock.Core;

namespace Airlock.Backends.Oci.Runtime;

/// <summary>
/// Runs a function on a fresh thread that lives in its own mount namespace, in which one mount (the hybrid layout's
/// cgroup2 mount) is hidden. crun refuses a hybrid cgroup host, so it is started from such a thread: namespaces are
/// per task on Linux, and .NET forks from the calling thread, so the child inherits the namespace while the host's is
/// untouched. A new namespace per call sees every mount made so far (workspaces), whatever the host's propagation.
/// </summary>
internal static class PrivateMountNamespace
{
    public static T Invoke<T>(string hiddenMount, Func<T> func)
    {
        T? result = default;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                if (Libc.Unshare(Libc.CLONE_NEWNS) != 0
                    || Libc.Mount(null, "/", null, Libc.MS_REC | Libc.MS_SLAVE, null) != 0
                    || (Libc.Umount2(hiddenMount, Libc.MNT_DETACH) != 0 && Libc.Errno != Libc.EINVAL))
                {
                    var errno = Libc.Errno;
                    throw new AirlockException(AirlockException.ErrorCodes.HostUnsupported,
                        $"cannot hide {hiddenMount} from crun in a private mount namespace: {Libc.ErrorText(errno)}",
                        "run Airlock as root, or choose --runtime runc");
                }
                result = func();
            }
            catch (Exception e)
            {
                error = e;
            }
        })
        { IsBackground = true, Name = "airlock-mntns" };
        thread.Start();
        thread.Join();
        return error is null ? result! : throw error;
    }
}
