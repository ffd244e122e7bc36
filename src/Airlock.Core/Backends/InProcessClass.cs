using Airlock.Core.Model;
using Airlock.Core.Storage;

namespace Airlock.Core.Backends;

/// <summary>
/// What the classes that run code without a process per sandbox (<c>wasm</c>, <c>v8</c>) share: template fields
/// about a host layout they cannot enforce, and sandboxes that are only a record and a suspended marker in their own
/// <see cref="SandboxStore"/>.
/// </summary>
public sealed class InProcessClass(string isolationClass, string runtime, SandboxStore store)
{
    public SandboxStore Store => store;

    /// <summary>Reports the fields such a class cannot enforce: another runtime (the model's default <c>crun</c>
    /// counts as unset), a required user namespace, a changed root filesystem, mounts, a network, a fractional CPU
    /// quota.</summary>
    public void CheckNoHostLayout(SandboxTemplate t, Action<string, string> addError)
    {
        if (t.Isolation.Runtime != runtime && t.Isolation.Runtime != OciRuntimes.Crun)
        {
            addError("isolation.runtime", $"the {isolationClass} class runs code with '{runtime}' only, not '{t.Isolation.Runtime}'");
        }
        if (t.Isolation.UserNamespace == UserNamespaceModes.Required)
        {
            addError("isolation.userNamespace", $"the {isolationClass} class gives code no user namespace of its own; use 'auto' or 'off'");
        }
        var defaults = new RootFsSpec();
        if (!t.RootFs.HostPaths.SequenceEqual(defaults.HostPaths, StringComparer.Ordinal))
        {
            addError("rootFs.hostPaths", $"the {isolationClass} class shows code no host directory; leave hostPaths at its default");
        }
        if (t.RootFs.Hostname != defaults.Hostname)
        {
            addError("rootFs.hostname", $"code in the {isolationClass} class has no hostname; leave it at its default");
        }
        if (t.Mounts.Count > 0)
        {
            addError("mounts", $"the {isolationClass} class binds no host path; use the workspace (oci: mounts)");
        }
        if (t.Network.Mode != NetworkModes.None)
        {
            addError("network.mode", $"the {isolationClass} class has no network ('{t.Network.Mode}' cannot be given)");
        }
        if (t.Resources.Cpus < 1)
        {
            addError("resources.cpus", $"an exec of the {isolationClass} class runs on one thread and a fractional CPU quota cannot be applied to it; use 1 (the timeout bounds its CPU)");
        }
    }

    public bool Exists(string id) => Directory.Exists(store.Paths.Sandbox(id));

    public bool IsSuspended(string id) => File.Exists(SuspendedMarker(id));

    public SandboxState Status(string id) => !Exists(id) ? SandboxState.Gone : IsSuspended(id) ? SandboxState.Suspended : SandboxState.Running;

    /// <summary>Throws unless the sandbox exists and is not suspended.</summary>
    public void RequireRunning(string id)
    {
        RequireExists(id);
        if (IsSuspended(id))
        {
            throw Suspended(id);
        }
    }

    public void RequireExists(string id)
    {
        if (!Exists(id))
        {
            throw new AirlockException(AirlockException.ErrorCodes.GuestUnavailable, $"sandbox {id} does not exist", "create a new sandbox");
        }
    }

    /// <summary>Marks the sandbox suspended (new execs refused) or running again.</summary>
    public void SetSuspended(string id, bool suspended)
    {
        RequireExists(id);
        if (suspended)
        {
            File.WriteAllBytes(SuspendedMarker(id), []);
        }
        else
        {
            File.Delete(SuspendedMarker(id));
        }
    }

    public static AirlockException Suspended(string id) => new(AirlockException.ErrorCodes.Suspended,
        $"sandbox {id} is suspended", $"resume it with: airlock sandbox resume {id}");

    private string SuspendedMarker(string id) => Path.Combine(store.Paths.Sandbox(id), "suspended");
}
