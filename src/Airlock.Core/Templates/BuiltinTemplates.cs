using Airlock.Core.Model;

namespace Airlock.Core.Templates;

/// <summary>Templates that ship with Airlock. Each keeps every strict default but the class and interpreter.</summary>
public static class BuiltinTemplates
{
    public static SandboxTemplate Shell { get; } = new()
    {
        Name = "shell",
        Description = "POSIX shell with the host's /usr tools; no network",
        Command = ["/bin/sh"],
    };

    public static SandboxTemplate Python { get; } = new()
    {
        Name = "python",
        Description = "Python 3 from the host's /usr; no network",
        Command = ["python3"],
        Env = new Dictionary<string, string>(SandboxTemplate.DefaultEnv)
        {
            ["PYTHONDONTWRITEBYTECODE"] = "1",
            ["PYTHONUNBUFFERED"] = "1",
        },
    };

    public static SandboxTemplate Wasm { get; } = new()
    {
        Name = "wasm",
        Description = "WASI preview-1 modules under Wasmtime; no filesystem, no sockets",
        Isolation = new IsolationSpec { Class = IsolationClasses.Wasm, Runtime = "wasmtime" },
        Workspace = new WorkspaceSpec { Access = WorkspaceAccessModes.None },
        Resources = new ResourceSpec { Memory = "256Mi" },
    };

    public static SandboxTemplate V8 { get; } = new()
    {
        Name = "v8",
        Description = "JavaScript (V8 isolates) and Python (Pyodide) in a jailed worker; no host objects, no network",
        Isolation = new IsolationSpec { Class = IsolationClasses.V8, Runtime = "v8" },
        Workspace = new WorkspaceSpec { Access = WorkspaceAccessModes.None },
    };

    public static IReadOnlyList<SandboxTemplate> All { get; } = [Shell, Python, Wasm, V8];

    public static SandboxTemplate? Find(string name) => All.FirstOrDefault(t => t.Name == name);
}
