namespace Airlock.Mcp.Manifests;

/// <summary>How a listed tool stands against the approved manifest. Only <see cref="Approved"/> reaches the
/// agent.</summary>
public enum PinState
{
    /// <summary>Identical (name, description, input schema, annotations) to the approved tool.</summary>
    Approved,
    /// <summary>The server has no valid signed manifest.</summary>
    Unsigned,
    /// <summary>Approved under this name but different now (a rug pull until proven otherwise), or listed twice.</summary>
    Changed,
    /// <summary>Not in the approved manifest: appeared after approval.</summary>
    Added,
}

/// <summary>One listed tool and its verdict.</summary>
/// <param name="Tool">The tool as listed now.</param>
/// <param name="State">Verdict.</param>
/// <param name="Digest"><see cref="ManifestCanonical.ToolDigest"/> of the listed tool.</param>
/// <param name="ApprovedDigest">Digest of the approved tool of that name, if any.</param>
/// <param name="Detail">For <see cref="PinState.Changed"/>: which fields differ, comma-separated, of
/// <c>description</c>, <c>inputSchema</c>, <c>annotations</c>; or <c>duplicate</c> when the server lists the name more
/// than once. Null otherwise.</param>
public sealed record PinnedTool(ToolRecord Tool, PinState State, string Digest, string? ApprovedDigest, string? Detail);

/// <summary>Every listed tool with its verdict, and the approved tools no longer listed.</summary>
/// <param name="Tools">In the order the server listed them.</param>
/// <param name="Removed">Names approved but not listed now, sorted.</param>
public sealed record PinningResult(IReadOnlyList<PinnedTool> Tools, IReadOnlyList<string> Removed)
{
    /// <summary>Tools that may be exposed: only <see cref="PinState.Approved"/> ones.</summary>
    public IEnumerable<ToolRecord> Allowed => Tools.Where(t => t.State == PinState.Approved).Select(t => t.Tool);

    /// <summary>Tools to withhold and report.</summary>
    public IEnumerable<PinnedTool> Withheld => Tools.Where(t => t.State != PinState.Approved);

    /// <summary>True when every listed tool is approved and none was removed.</summary>
    public bool MatchesApproval => Removed.Count == 0 && Tools.All(t => t.State == PinState.Approved);
}

/// <summary>Compares what a server lists now with what was approved.</summary>
public static class ToolPinning
{
    /// <summary>Verdict for every tool of <paramref name="current"/>.</summary>
    /// <param name="approved">The verified manifest of this server; null when it has none or it did not verify,
    /// which makes every tool <see cref="PinState.Unsigned"/>.</param>
    /// <param name="current">The tools the server lists now.</param>
    public static PinningResult Check(ToolManifest? approved, IReadOnlyList<ToolRecord> current)
    {
        ArgumentNullException.ThrowIfNull(current);
        if (approved is null)
        {
            return new PinningResult(
                current.Select(t => new PinnedTool(t, PinState.Unsigned, ManifestCanonical.ToolDigest(t), null, null)).ToList(), []);
        }
        var pinned = new Dictionary<string, ToolRecord>(StringComparer.Ordinal);
        foreach (var t in approved.Tools)
        {
            pinned.TryAdd(t.Name, t); // a verified manifest has unique names
        }
        var listed = current.GroupBy(t => t.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var tools = new List<PinnedTool>(current.Count);
        foreach (var t in current)
        {
            var digest = ManifestCanonical.ToolDigest(t);
            if (!pinned.TryGetValue(t.Name, out var was))
            {
                tools.Add(new PinnedTool(t, PinState.Added, digest, null, null));
                continue;
            }
            var approvedDigest = ManifestCanonical.ToolDigest(was);
            // Two tools of one name: which one the agent would get is up to the client, so neither is exposed.
            tools.Add(listed[t.Name] > 1 ? new PinnedTool(t, PinState.Changed, digest, approvedDigest, "duplicate")
                : digest == approvedDigest ? new PinnedTool(t, PinState.Approved, digest, approvedDigest, null)
                : new PinnedTool(t, PinState.Changed, digest, approvedDigest, Diff(was, t)));
        }
        var removed = pinned.Keys.Where(n => !listed.ContainsKey(n)).Order(StringComparer.Ordinal).ToList();
        return new PinningResult(tools, removed);
    }

    private static string Diff(ToolRecord was, ToolRecord now)
    {
        var fields = new List<string>(3);
        if (!string.Equals(was.Description, now.Description, StringComparison.Ordinal))
        {
            fields.Add("description");
        }
        if (ManifestCanonical.CanonicalValue(was.InputSchema) != ManifestCanonical.CanonicalValue(now.InputSchema))
        {
            fields.Add("inputSchema");
        }
        if (ManifestCanonical.CanonicalValue(was.Annotations) != ManifestCanonical.CanonicalValue(now.Annotations))
        {
            fields.Add("annotations");
        }
        return string.Join(", ", fields);
    }
}
