namespace Airlock.Mcp.Server;

/// <summary>
/// Screens text that came out of a sandbox (stdout, stderr, file contents and names) before it reaches the agent:
/// the hook where hidden instructions, invisible Unicode and exfiltration links are removed or flagged. Called once
/// per field, with the tool's name, on every result of every tool.
/// </summary>
public interface IResultScreen
{
    /// <summary>The text the agent may see (the input, or a cleaned copy of it).</summary>
    string Screen(string toolName, string text);
}

/// <summary>The default: returns the text unchanged.</summary>
public sealed class PassThroughScreen : IResultScreen
{
    public static PassThroughScreen Instance { get; } = new();

    public string Screen(string toolName, string text) => text;
}
