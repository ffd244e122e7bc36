using Airlock.Core.Model;
using Airlock.Guest.Protocol;

namespace Airlock.Core.Backends;

/// <summary>
/// Several isolation classes behind the one backend interface: each call goes to the backend of the template's (or
/// the sandbox record's) <c>isolation.class</c>. Lets the CLI and the daemon serve <c>oci</c>, <c>wasm</c> and
/// <c>v8</c> sandboxes side by side. <see cref="Validation.TemplateValidator"/> looks through it to the member backends.
/// </summary>
public sealed class BackendSet : IIsolationBackend, IReapingBackend, IReattachingBackend
{
    private readonly IReadOnlyList<IIsolationBackend> _members;

    public BackendSet(params IIsolationBackend[] members)
    {
        if (members.Length == 0 || members.Select(m => m.IsolationClass).Distinct().Count() != members.Length)
        {
            throw new ArgumentException("one backend per isolation class, at least one", nameof(members));
        }
        _members = members;
    }

    public IReadOnlyList<IIsolationBackend> Members => _members;

    /// <summary>The first member's class (the default class of templates).</summary>
    public string IsolationClass => _members[0].IsolationClass;

    public IIsolationBackend For(string isolationClass) =>
        _members.FirstOrDefault(m => m.IsolationClass == isolationClass)
        ?? throw new AirlockException(AirlockException.ErrorCodes.InvalidTemplate,
            $"isolation.class: '{isolationClass}' is not available in this build",
            $"use one of: {string.Join(", ", _members.Select(m => m.IsolationClass))}");

    private IIsolationBackend For(SandboxTemplate t) => For(t.Isolation.Class);

    public void CheckEnforceable(SandboxTemplate template, Action<string, string> addError) => For(template).CheckEnforceable(template, addError);

    public Task<SandboxRecord> CreateAsync(SandboxTemplate template, CancellationToken ct) => For(template).CreateAsync(template, ct);

    public Task<ExecResult> ExecAsync(SandboxRecord sandbox, ExecSpec spec, ExecIo io, CancellationToken ct) => For(sandbox.Template).ExecAsync(sandbox, spec, io, ct);

    public ISandboxFiles Files(SandboxRecord sandbox) => For(sandbox.Template).Files(sandbox);

    public Task DestroyAsync(SandboxRecord sandbox, CancellationToken ct) => For(sandbox.Template).DestroyAsync(sandbox, ct);

    public Task<SandboxState> StatusAsync(SandboxRecord sandbox, CancellationToken ct) => For(sandbox.Template).StatusAsync(sandbox, ct);

    public Task SuspendAsync(SandboxRecord sandbox, CancellationToken ct) => For(sandbox.Template).SuspendAsync(sandbox, ct);

    public Task ResumeAsync(SandboxRecord sandbox, CancellationToken ct) => For(sandbox.Template).ResumeAsync(sandbox, ct);

    public Task<RunResult> RunAsync(SandboxTemplate template, ExecSpec spec, ExecIo io, CancellationToken ct) => For(template).RunAsync(template, spec, io, ct);

    public async Task<IReadOnlyList<string>> ReapOrphansAsync(CancellationToken ct)
    {
        var reaped = new List<string>();
        foreach (var m in _members.OfType<IReapingBackend>())
        {
            reaped.AddRange(await m.ReapOrphansAsync(ct).ConfigureAwait(false));
        }
        return reaped;
    }

    public void Reattach(SandboxRecord sandbox)
    {
        if (For(sandbox.Template) is IReattachingBackend r)
        {
            r.Reattach(sandbox);
        }
    }
}
