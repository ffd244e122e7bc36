using System.Collections.Concurrent;
using Airlock.Backends.Oci.Native;
using Airlock.Core;

namespace Airlock.Backends.Oci.Runtime;

/// <summary>
/// A thread living in its own mount namespace in which one mount (the hybrid layout's cgroup2 mount) is hidden.
/// crun refuses a hybrid cgroup host, so it is started from this thread: namespaces are per task on Linux, and
/// .NET forks a child from the calling thread, so the child inherits this namespace while the host's is untouched.
/// Propagation is made slave, so mounts Airlock makes on the host later (workspaces) still reach crun.
/// </summary>
internal sealed class PrivateMountNamespace : IDisposable
{
    private readonly BlockingCollection<Action> _work = new();
    private readonly Thread _thread;
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public PrivateMountNamespace(string hiddenMount)
    {
        _thread = new Thread(() => Run(hiddenMount)) { IsBackground = true, Name = "airlock-mntns" };
        _thread.Start();
        _ready.Task.GetAwaiter().GetResult();
    }

    public T Invoke<T>(Func<T> func)
    {
        var tcs = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _work.Add(() =>
        {
            try
            {
                tcs.SetResult(func());
            }
            catch (Exception e)
            {
                tcs.SetException(e);
            }
        });
        return tcs.Task.GetAwaiter().GetResult();
    }

    private void Run(string hiddenMount)
    {
        if (Libc.Unshare(Libc.CLONE_NEWNS) != 0
            || Libc.Mount(null, "/", null, Libc.MS_REC | Libc.MS_SLAVE, null) != 0
            || (Libc.Umount2(hiddenMount, Libc.MNT_DETACH) != 0 && Libc.Errno != Libc.EINVAL))
        {
            var errno = Libc.Errno;
            _ready.SetException(new AirlockException(AirlockException.ErrorCodes.HostUnsupported,
                $"cannot hide {hiddenMount} from crun in a private mount namespace: {Libc.ErrorText(errno)}",
                "run Airlock as root, or choose --runtime runc"));
            return;
        }
        _ready.SetResult();
        foreach (var item in _work.GetConsumingEnumerable())
        {
            item();
        }
    }

    public void Dispose() => _work.CompleteAdding();
}
