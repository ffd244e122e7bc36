using System.Collections.Concurrent;
using Airlock.Core;

namespace Airlock.Mcp.Server;

/// <summary>Who is calling: the tenant (and token) the sandboxes belong to, and where they run.</summary>
public sealed record McpCaller(string Tenant, string TokenId, ISandboxHost Host);

/// <summary>
/// One MCP session (a stdio process, or one <c>Mcp-Session-Id</c> over HTTP). It owns the sandboxes created in it:
/// tools act only on those, and closing the session destroys them.
/// </summary>
public sealed class McpToolSession(string id, McpCaller caller)
{
    private readonly HashSet<string> _owned = [];
    private int _reserved;

    public string Id { get; } = id;
    public McpCaller Caller { get; } = caller;

    public IReadOnlyList<string> Sandboxes
    {
        get
        {
            lock (_owned)
            {
                return [.. _owned];
            }
        }
    }

    internal bool Closed { get; private set; }

    /// <summary>Holds a slot for a sandbox about to be created, refusing past <paramref name="max"/>.</summary>
    internal void Reserve(int max)
    {
        lock (_owned)
        {
            if (Closed)
            {
                throw new McpToolException(AirlockException.ErrorCodes.Conflict, "mcp:session", "this MCP session has ended", "start a new session");
            }
            if (_owned.Count + _reserved >= max)
            {
                throw new McpToolException(AirlockException.ErrorCodes.Forbidden, "mcp:max-sandboxes",
                    $"this session already holds {max} sandboxes, the most this server allows", "destroy one with destroy_sandbox first");
            }
            _reserved++;
        }
    }

    /// <summary>Turns a reservation into an owned sandbox (or releases it when <paramref name="name"/> is null).
    /// Returns false when the session closed meanwhile: the caller must destroy the sandbox.</summary>
    internal bool Commit(string? name)
    {
        lock (_owned)
        {
            _reserved--;
            if (name is null)
            {
                return true;
            }
            if (Closed)
            {
                return false;
            }
            _owned.Add(name);
            return true;
        }
    }

    internal void RequireOwned(string sandbox)
    {
        lock (_owned)
        {
            if (!_owned.Contains(sandbox))
            {
                throw new McpToolException(AirlockException.ErrorCodes.NotFound, "mcp:session-owner",
                    $"sandbox '{McpServerConfig.Clip(sandbox)}' was not created in this MCP session",
                    "use a sandbox name returned by create_sandbox in this session");
            }
        }
    }

    internal void Forget(string sandbox)
    {
        lock (_owned)
        {
            _owned.Remove(sandbox);
        }
    }

    internal IReadOnlyList<string> Close()
    {
        lock (_owned)
        {
            Closed = true;
            var all = _owned.ToList();
            _owned.Clear();
            return all;
        }
    }
}

/// <summary>
/// The live MCP sessions of this server. A stdio server has exactly one (<see cref="Single"/>); the HTTP endpoint
/// opens one per <c>Mcp-Session-Id</c> and closes it when the SDK ends the session (DELETE, idle timeout, shutdown).
/// </summary>
public sealed class McpSessions
{
    private readonly ConcurrentDictionary<string, McpToolSession> _sessions = new(StringComparer.Ordinal);

    /// <summary>The one session of a stdio server, used whatever the transport's session id.</summary>
    public McpToolSession? Single { get; private set; }

    public McpToolSession OpenSingle(string id, McpCaller caller) => Single = Open(id, caller);

    public McpToolSession Open(string id, McpCaller caller)
    {
        var s = new McpToolSession(id, caller);
        if (!_sessions.TryAdd(id, s))
        {
            throw new InvalidOperationException($"MCP session {id} is already open");
        }
        return s;
    }

    public McpToolSession? Find(string? id) => Single ?? (id is not null && _sessions.TryGetValue(id, out var s) ? s : null);

    public int Count => _sessions.Count;

    /// <summary>Ends a session and destroys every sandbox it created; errors are reported, not thrown.</summary>
    public async Task CloseAsync(string id)
    {
        if (!_sessions.TryRemove(id, out var s))
        {
            return;
        }
        foreach (var name in s.Close())
        {
            try
            {
                await s.Caller.Host.DestroyAsync(name, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is AirlockException or IOException or HttpRequestException)
            {
                Console.Error.WriteLine($"airlock mcp: could not destroy sandbox {name} of ended session {id}: {e.Message}");
            }
        }
    }

    public async Task CloseAllAsync()
    {
        foreach (var id in _sessions.Keys.ToList())
        {
            await CloseAsync(id).ConfigureAwait(false);
        }
    }
}
