using Airlock.Core.Model;

namespace Airlock.Core.Templates;

/// <summary>Templates that ship with Airlock. Both keep every strict default and differ only in the interpreter.</summary>
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

    public static IReadOnlyList<SandboxTemplate> All { get; } = [Shell, Python];

    public static SandboxTemplate? Find(string name) => All.FirstOrDefault(t => t.Name == name);
}
