using System.Text.Json;
using Airlock.Core;
using Airlock.Core.Backends;
using Airlock.Guest.Protocol;

namespace Airlock.Backends.V8.Tests;

[Collection("v8")]
public sealed class JavaScriptTests(V8Fixture f)
{
    /// <summary>Every global an ECMAScript engine defines (V8's set as of ClearScript 7.5.1.1), plus the console the
    /// worker installs and ClearScript's EngineInternal, which it defines non-configurable (see below).</summary>
    private static readonly HashSet<string> Allowed =
    [
        "Object", "Function", "Array", "Number", "parseFloat", "parseInt", "Infinity", "NaN", "undefined", "Boolean",
        "String", "Symbol", "Date", "Promise", "RegExp", "Error", "AggregateError", "EvalError", "RangeError",
        "ReferenceError", "SyntaxError", "TypeError", "URIError", "globalThis", "JSON", "Math", "Intl", "ArrayBuffer",
        "Atomics", "Uint8Array", "Int8Array", "Uint16Array", "Int16Array", "Uint32Array", "Int32Array", "BigUint64Array",
        "BigInt64Array", "Uint8ClampedArray", "Float32Array", "Float64Array", "Float16Array", "DataView", "Map", "BigInt",
        "Set", "Iterator", "WeakMap", "WeakSet", "Proxy", "Reflect", "FinalizationRegistry", "WeakRef", "decodeURI",
        "decodeURIComponent", "encodeURI", "encodeURIComponent", "escape", "unescape", "eval", "isFinite", "isNaN",
        "SuppressedError", "DisposableStack", "AsyncDisposableStack", "SharedArrayBuffer", "WebAssembly",
        "console", "EngineInternal",
    ];

    [Fact]
    public async Task Globals_are_only_ecmascript_and_the_console()
    {
        var (r, stdout, stderr) = await f.RunAsync("js", """
            const names = [];
            for (let o = globalThis; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
              names.push(...Object.getOwnPropertyNames(o), ...Object.getOwnPropertySymbols(o).map(String));
            }
            console.log(JSON.stringify(names));
            """);
        Assert.True(r.ExitCode == 0, stderr);
        var names = JsonSerializer.Deserialize<string[]>(stdout)!;
        var extra = names.Where(n => !Allowed.Contains(n) && !n.StartsWith("Symbol(", StringComparison.Ordinal) && n != "constructor").ToList();
        Assert.True(extra.Count == 0, "unexpected globals: " + string.Join(", ", extra));
        Assert.Contains("Object", names);
    }

    [Fact]
    public async Task EngineInternal_is_frozen_and_holds_only_script_functions()
    {
        // ClearScript defines EngineInternal non-configurable, so it cannot be deleted; this pins down that it is
        // inert: frozen, and every member is a plain script function or an object without own members (commandHolder, the async generator prototype), none a host object.
        var (r, stdout, stderr) = await f.RunAsync("js", """
            const ei = globalThis.EngineInternal;
            let deleted = false;
            try { deleted = delete globalThis.EngineInternal; } catch { }
            const kinds = Object.getOwnPropertyNames(ei).map(k => k + ':' + typeof ei[k] + ':' + (typeof ei[k] === 'object' ? Object.keys(ei[k]).length : ''));
            console.log(JSON.stringify({ frozen: Object.isFrozen(ei), deleted, host: ei.isHostObject(ei), kinds }));
            """);
        Assert.True(r.ExitCode == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.True(doc.RootElement.GetProperty("frozen").GetBoolean());
        Assert.False(doc.RootElement.GetProperty("deleted").GetBoolean());
        Assert.False(doc.RootElement.GetProperty("host").GetBoolean());
        foreach (var kind in doc.RootElement.GetProperty("kinds").EnumerateArray().Select(k => k.GetString()!))
        {
            Assert.True(kind.Contains(":function:", StringComparison.Ordinal) || kind is "commandHolder:object:0" or "asyncGenerator:object:0", kind);
        }
    }

    [Fact]
    public async Task No_require_process_fetch_file_or_host_access()
    {
        var (r, stdout, stderr) = await f.RunAsync("js", """
            const names = ['require', 'process', 'fetch', 'XMLHttpRequest', 'WebSocket', 'Deno', 'Bun', 'importScripts',
              'read', 'readbuffer', 'load', 'os', 'host', 'clr', 'xHost', 'module', 'exports', 'Buffer', 'setTimeout',
              'print', 'quit', 'navigator', 'location', 'document', 'window', 'self'];
            for (const n of names) console.log(n + '=' + typeof globalThis[n]);
            import('/etc/passwd').then(() => console.log('import=loaded'), e => console.log('import=refused'));
            """);
        Assert.True(r.ExitCode == 0, stderr);
        foreach (var line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith("import=", StringComparison.Ordinal)))
        {
            Assert.EndsWith("=undefined", line);
        }
        Assert.Contains("import=refused", stdout);
    }

    [Fact]
    public async Task Console_goes_to_stdout_and_stderr_and_an_uncaught_exception_exits_1()
    {
        var (r, stdout, stderr) = await f.RunAsync("js", "console.log('a', 1, {b: 2}); console.error('oops'); function f() { throw new TypeError('bad thing'); } f();");
        Assert.Equal(1, r.ExitCode);
        Assert.Null(r.KilledReason);
        Assert.Equal("a 1 {\"b\":2}\n", stdout);
        Assert.Contains("oops\n", stderr);
        Assert.Contains("TypeError: bad thing", stderr);
        Assert.Contains("main.js:1", stderr);
    }

    [Fact]
    public async Task Each_exec_gets_a_fresh_isolate()
    {
        var (r1, _, _) = await f.RunAsync("js", "globalThis.leak = 42; Object.prototype.polluted = 1;");
        Assert.Equal(0, r1.ExitCode);
        for (var i = 0; i < 4; i++)
        {
            var (r, stdout, _) = await f.RunAsync("js", "console.log(typeof leak, ({}).polluted)");
            Assert.Equal(0, r.ExitCode);
            Assert.Equal("undefined undefined\n", stdout);
        }
    }

    [Fact]
    public async Task Infinite_loop_is_stopped_at_the_timeout()
    {
        var (r, _, _) = await f.RunAsync("js", "while (true) {}", timeout: TimeSpan.FromMilliseconds(300));
        Assert.Equal(KillReasons.Timeout, r.KilledReason);
        Assert.Equal(137, r.ExitCode);
        Assert.InRange(r.DurationMs, 250, 3000);
        var (next, stdout, _) = await f.RunAsync("js", "console.log('alive')");
        Assert.Equal(0, next.ExitCode);
        Assert.Equal("alive\n", stdout);
    }

    [Fact]
    public async Task Output_is_capped()
    {
        var (r, stdout, _) = await f.RunAsync("js", "for (;;) console.log('0123456789')", FixtureTemplate(outputLimit: "1000"));
        Assert.Equal(KillReasons.OutputLimit, r.KilledReason);
        Assert.True(r.Truncated);
        Assert.Equal(1000, stdout.Length);
        Assert.Equal(1000, r.StdoutBytes);
    }

    [Fact]
    public async Task Runaway_allocation_is_stopped_and_other_executions_are_unharmed()
    {
        // The bystander runs concurrently on the other worker and must finish with its exact output.
        var bystander = f.RunAsync("js", "let s = 0; const end = Date.now() + 1500; while (Date.now() < end) s++; console.log('bystander ok', s > 0)");
        var (r, _, stderr) = await f.RunAsync("js", "const a = []; while (true) a.push({ i: a.length, s: 'x'.repeat(16) + a.length });");
        Assert.Equal(KillReasons.Memory, r.KilledReason);
        Assert.Equal(137, r.ExitCode);
        var (b, bout, _) = await bystander;
        Assert.Equal(0, b.ExitCode);
        Assert.Equal("bystander ok true\n", bout);
        await AssertNextExecWorks();
        _ = stderr;
    }

    [Fact]
    public async Task Huge_array_fill_kills_only_its_worker()
    {
        var bystander = f.RunAsync("js", "let s = 0; const end = Date.now() + 1500; while (Date.now() < end) s++; console.log('bystander ok')");
        var (r, _, stderr) = await f.RunAsync("js", "new Array(250e6).fill(1.5); console.log('survived')", timeout: TimeSpan.FromSeconds(60));
        Assert.True(r.KilledReason == KillReasons.Memory, $"killed: {r.KilledReason}; stderr: {stderr}");
        Assert.Equal(137, r.ExitCode);
        var (b, bout, _) = await bystander;
        Assert.Equal(0, b.ExitCode);
        Assert.Equal("bystander ok\n", bout);
        await AssertNextExecWorks();
    }

    [Fact]
    public async Task WebAssembly_memory_bomb_is_contained_by_the_worker_cgroup()
    {
        // WebAssembly memory is outside V8's heap limit: only the worker's memory cgroup (768 MiB here) stops this.
        var (r, stdout, stderr) = await f.RunAsync("js", """
            const keep = [];
            for (let i = 0; i < 64; i++) {
              const m = new WebAssembly.Memory({ initial: 4096, maximum: 4096 }); // 256 MiB
              new Uint8Array(m.buffer).fill(1);
              keep.push(m);
            }
            console.log('allocated', keep.length * 256, 'MiB');
            """, timeout: TimeSpan.FromSeconds(60));
        Assert.True(r.KilledReason == KillReasons.Memory, $"killed: {r.KilledReason}; stdout: {stdout}; stderr: {stderr}");
        Assert.DoesNotContain("allocated", stdout);
        await AssertNextExecWorks();
        Assert.All(f.Backend.Workers.Where(w => w.Language == "js"), w => Assert.InRange(w.MemoryBytes, 1, 768L << 20));
    }

    [Fact]
    public async Task Workers_are_jailed()
    {
        await f.Backend.WarmUpAsync("js", CancellationToken.None);
        var ownNet = new FileInfo("/proc/self/ns/net").LinkTarget;
        // Earlier tests kill workers on purpose; a replacement may still be starting, so look at the live ones and
        // skip a process that exits while it is being read.
        var checkedPids = 0;
        for (var attempt = 0; attempt < 50 && checkedPids == 0; attempt++)
        {
            foreach (var w in f.Backend.Workers.Where(w => w.Language == "js").ToList())
            {
                List<int> tree;
                try
                {
                    tree = Descendants(w.Pid).ToList();
                }
                catch (IOException)
                {
                    continue; // a worker killed by an earlier test, not yet replaced
                }
                foreach (var pid in tree)
                {
                    string net, cgroups;
                    string[] status;
                    bool etcPasswd, rootDir;
                    try
                    {
                        net = new FileInfo($"/proc/{pid}/ns/net").LinkTarget ?? "";
                        status = File.ReadAllLines($"/proc/{pid}/status");
                        cgroups = File.ReadAllText($"/proc/{pid}/cgroup");
                        var root = new DirectoryInfo($"/proc/{pid}/root/");
                        etcPasswd = File.Exists(Path.Combine(root.FullName, "etc/passwd"));
                        rootDir = Directory.Exists(Path.Combine(root.FullName, "root"));
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                    {
                        continue;
                    }
                    Assert.NotEqual(ownNet, net);
                    Assert.Contains("CapEff:\t0000000000000000", status);
                    Assert.Contains("-v8/w", cgroups);
                    Assert.False(etcPasswd, "the jail shows the host's /etc");
                    Assert.False(rootDir, "the jail shows /root");
                    checkedPids++;
                }
            }
            if (checkedPids == 0)
            {
                await Task.Delay(100);
            }
        }
        Assert.True(checkedPids > 0, "no live worker process to inspect");
    }

    [Fact]
    public async Task Bad_argv_is_refused_with_the_field()
    {
        var e = await Assert.ThrowsAsync<AirlockException>(() => f.Backend.RunAsync(V8Fixture.Template(), new ExecSpec(["ruby", "1"]), ExecIo.Null, CancellationToken.None));
        Assert.Contains("argv", e.Message);
    }

    [Fact]
    public void Unenforceable_fields_are_reported()
    {
        var errors = new List<string>();
        var t = V8Fixture.Template() with
        {
            Network = new Core.Model.NetworkSpec { Mode = "egress" },
            Resources = new Core.Model.ResourceSpec { Memory = "4Gi" },
        };
        f.Backend.CheckEnforceable(t, (field, _) => errors.Add(field));
        Assert.Contains("network.mode", errors);
        Assert.Contains("resources.memory", errors);
        errors.Clear();
        f.Backend.CheckEnforceable(V8Fixture.Template(), (field, reason) => errors.Add(field + ": " + reason));
        Assert.Empty(errors);
    }

    private static Core.Model.SandboxTemplate FixtureTemplate(string outputLimit) => V8Fixture.Template(outputLimit: outputLimit);

    private async Task AssertNextExecWorks()
    {
        var (next, stdout, stderr) = await f.RunAsync("js", "console.log(6 * 7)");
        Assert.True(next.ExitCode == 0, stderr);
        Assert.Equal("42\n", stdout);
    }

    private static IEnumerable<int> Descendants(int pid)
    {
        foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            var children = Path.Combine(task, "children");
            if (!File.Exists(children))
            {
                continue;
            }
            foreach (var c in File.ReadAllText(children).Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse))
            {
                yield return c;
                foreach (var d in Descendants(c))
                {
                    yield return d;
                }
            }
        }
    }
}
