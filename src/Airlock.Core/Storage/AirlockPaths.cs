namespace Airlock.Core.Storage;

/// <summary>Where Airlock keeps its state on this machine. <c>AIRLOCK_HOME</c> overrides the default
/// <c>/var/lib/airlock</c>; tests give each run its own.</summary>
public sealed record AirlockPaths(string Root)
{
    public static AirlockPaths FromEnvironment() =>
        new(Environment.GetEnvironmentVariable("AIRLOCK_HOME") is { Length: > 0 } home ? Path.GetFullPath(home) : "/var/lib/airlock");

    public string Sandboxes => Path.Combine(Root, "sandboxes");

    public string Sandbox(string id) => Path.Combine(Sandboxes, id);

    public string RecordFile(string id) => Path.Combine(Sandbox(id), "sandbox.json");

    /// <summary>Runtime state directories (<c>--root</c> of crun/runc/runsc), one per runtime.</summary>
    public string RuntimeRoot(string runtime) => Path.Combine(Root, "runtime", runtime);

    /// <summary>Shared, read-only pieces of every root filesystem (the empty root, the synthesized /etc).</summary>
    public string Shared => Path.Combine(Root, "shared");
}
