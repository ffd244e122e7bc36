using Airlock.Core.Model;

namespace Airlock.Core.Control;

/// <summary>A status condition, as in Kubernetes (<c>metav1.Condition</c>).</summary>
public sealed record Condition(string Type, string Status, string Reason, string Message, DateTimeOffset LastTransitionTime);

/// <summary>Condition types and reason strings of kubernetes-sigs/agent-sandbox v1beta1, plus Airlock's own where
/// upstream has none (documented in docs/control-plane.md).</summary>
public static class Conditions
{
    public const string Ready = "Ready";
    public const string Suspended = "Suspended";
    public const string Finished = "Finished";

    public const string True = "True";
    public const string False = "False";

    // Sandbox Ready reasons (upstream).
    public const string DependenciesReady = "DependenciesReady";
    public const string DependenciesNotReady = "DependenciesNotReady";
    public const string SandboxSuspended = "SandboxSuspended";
    public const string SandboxExpired = "SandboxExpired";
    public const string ReconcilerError = "ReconcilerError";

    // Sandbox Finished / Suspended reasons (Airlock: there is no pod phase to copy).
    public const string SandboxResumed = "SandboxResumed";
    public const string IdleTimeout = "IdleTimeout";
    public const string SandboxLost = "SandboxLost";

    // Claim Ready reasons (upstream).
    public const string ClaimExpired = "ClaimExpired";
    public const string SandboxNotReady = "SandboxNotReady";
    public const string SandboxReady = "SandboxReady";
    public const string EnvVarsInjectionRejected = "EnvVarsInjectionRejected";

    public static IReadOnlyList<Condition> Set(IReadOnlyList<Condition> list, string type, string status, string reason, string message, DateTimeOffset now)
    {
        var old = list.FirstOrDefault(c => c.Type == type);
        if (old is not null && old.Status == status && old.Reason == reason && old.Message == message)
        {
            return list;
        }
        var changed = old is null || old.Status != status ? now : old.LastTransitionTime;
        return [.. list.Where(c => c.Type != type), new Condition(type, status, reason, message, changed)];
    }

    public static Condition? Find(IReadOnlyList<Condition> list, string type) => list.FirstOrDefault(c => c.Type == type);

    public static bool IsTrue(IReadOnlyList<Condition> list, string type) => Find(list, type)?.Status == True;
}

public sealed record NameRef(string Name);

public static class ShutdownPolicies
{
    public const string Delete = "Delete";
    public const string Retain = "Retain";
    public static readonly string[] All = [Delete, Retain];
}

public static class OperatingModes
{
    public const string Running = "Running";
    public const string Suspended = "Suspended";
    public static readonly string[] All = [Running, Suspended];
}

public static class UpdateStrategies
{
    public const string Recreate = "Recreate";
    public const string OnReplenish = "OnReplenish";
    public static readonly string[] All = [Recreate, OnReplenish];
}

/// <summary>Desired state of a sandbox.</summary>
public sealed record SandboxSpec
{
    /// <summary>Template the sandbox is created from (a built-in or one applied to the daemon).</summary>
    public NameRef? SandboxTemplateRef { get; set; }

    /// <summary>When the sandbox expires; null: never (unless the template's lifetime says otherwise).</summary>
    public DateTimeOffset? ShutdownTime { get; set; }

    /// <summary>On expiry the sandbox's processes and workspace are always destroyed; <c>Retain</c> (default) keeps
    /// the object with Ready=False/SandboxExpired, <c>Delete</c> removes it.</summary>
    public string ShutdownPolicy { get; set; } = ShutdownPolicies.Retain;

    /// <summary><c>Running</c> or <c>Suspended</c> (frozen: processes and workspace kept, nothing runs).</summary>
    public string OperatingMode { get; set; } = OperatingModes.Running;

    /// <summary>Environment added to every exec (from a claim, per the template's envVarsInjectionPolicy).</summary>
    public IReadOnlyDictionary<string, string>? Env { get; set; }
}

public sealed record SandboxStatus
{
    public IReadOnlyList<Condition> Conditions { get; set; } = [];

    /// <summary><c>cold</c> or <c>warm</c> (adopted from a pool), as upstream's launch-type label.</summary>
    public string LaunchType { get; set; } = "cold";

    /// <summary>Pool that owns the sandbox while it waits to be claimed.</summary>
    public string? WarmPool { get; set; }

    /// <summary>Claim that owns the sandbox.</summary>
    public string? Claim { get; set; }

    /// <summary>Hash of the template the sandbox was created from (stale pool members differ).</summary>
    public string TemplateHash { get; set; } = "";

    /// <summary>The network policy the sandbox runs with (its template's): what it may reach, which secrets the
    /// egress proxy adds (names and sources, never values).</summary>
    public NetworkSpec? Network { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>When the sandbox was created or adopted: the start of its lifetime.</summary>
    public DateTimeOffset StartedAt { get; set; }

    public DateTimeOffset LastActivity { get; set; }

    public DateTimeOffset? FinishedAt { get; set; }

    /// <summary>Id of the isolation backend's sandbox; null once torn down.</summary>
    public string? BackendId { get; set; }
}

public sealed record Sandbox(string Name, SandboxSpec Spec, SandboxStatus Status);

public sealed record EnvVar(string Name, string Value);

public sealed record ClaimLifecycle
{
    public DateTimeOffset? ShutdownTime { get; set; }

    /// <summary><c>Retain</c> (default): an expired claim stays, its sandbox destroyed; <c>Delete</c>: both go.</summary>
    public string ShutdownPolicy { get; set; } = ShutdownPolicies.Retain;

    /// <summary>Delete the claim this many seconds after its sandbox finished; null: keep it.</summary>
    public int? TtlSecondsAfterFinished { get; set; }
}

/// <summary>A request for a sandbox from a warm pool (or, Airlock's extension, straight from a template).</summary>
public sealed record SandboxClaimSpec
{
    public NameRef? WarmPoolRef { get; set; }

    public NameRef? SandboxTemplateRef { get; set; }

    public ClaimLifecycle Lifecycle { get; set; } = new();

    public IReadOnlyList<EnvVar> Env { get; set; } = [];
}

public sealed record SandboxClaimStatus
{
    public IReadOnlyList<Condition> Conditions { get; set; } = [];

    public NameRef? Sandbox { get; set; }

    /// <summary>Milliseconds from the request to a ready sandbox.</summary>
    public double ClaimMs { get; set; }

    public DateTimeOffset? FinishedAt { get; set; }
}

public sealed record SandboxClaim(string Name, SandboxClaimSpec Spec, SandboxClaimStatus Status);

public sealed record UpdateStrategy(string Type);

public sealed record SandboxWarmPoolSpec
{
    public int Replicas { get; set; } = 1;

    public NameRef? SandboxTemplateRef { get; set; }

    /// <summary><c>OnReplenish</c> (default, as upstream): stale members stay claimable and are replaced only as they
    /// are claimed; <c>Recreate</c>: stale members are destroyed and replaced at once.</summary>
    public UpdateStrategy UpdateStrategy { get; set; } = new(UpdateStrategies.OnReplenish);
}

public sealed record SandboxWarmPoolStatus
{
    public int Replicas { get; set; }
    public int ReadyReplicas { get; set; }
}

public sealed record SandboxWarmPool(string Name, SandboxWarmPoolSpec Spec, SandboxWarmPoolStatus Status);
