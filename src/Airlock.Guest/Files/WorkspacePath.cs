using Airlock.Guest.Protocol;

namespace Airlock.Guest.Files;

/// <summary>Lexical checks on a request path before anything touches the file system.</summary>
internal static class WorkspacePath
{
    /// <summary>
    /// Splits <paramref name="path"/> into components relative to <paramref name="root"/>. Absolute paths are
    /// accepted only under the root; <c>..</c> is refused outright rather than resolved, so a path means the
    /// same thing whatever symlinks exist.
    /// </summary>
    public static string[] Parse(string root, string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            throw new FsException(ErrorCodes.InvalidPath, "path is empty");
        }
        if (path.Contains('\0'))
        {
            throw new FsException(ErrorCodes.InvalidPath, $"path \"{path.Replace("\0", "\\0")}\" contains a NUL character");
        }
        var rel = path;
        if (path.StartsWith('/'))
        {
            var r = root.TrimEnd('/');
            if (path == r || path == r + "/")
            {
                rel = "";
            }
            else if (path.StartsWith(r + "/", StringComparison.Ordinal))
            {
                rel = path[(r.Length + 1)..];
            }
            else
            {
                throw new FsException(ErrorCodes.PathEscape, $"path \"{path}\" is outside the workspace \"{root}\"");
            }
        }
        var parts = rel.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".").ToArray();
        if (parts.Contains(".."))
        {
            throw new FsException(ErrorCodes.PathEscape, $"path \"{path}\" escapes the workspace (\"..\" is not allowed)");
        }
        return parts;
    }
}
