using Airlock.Guest.Protocol;

namespace Airlock.Backends.V8.Tests;

/// <summary>Python on Pyodide. These need artifacts/pyodide (scripts/pyodide.sh, run by scripts/setup.sh) and fail
/// when it is missing.</summary>
[Collection("v8")]
public sealed class PythonTests(V8Fixture f)
{
    private async Task<(ExecResult Result, string Stdout, string Stderr)> Py(string code, TimeSpan? timeout = null)
    {
        Assert.True(f.Backend.PyodideDirectory is not null, "pyodide is not installed: run bash scripts/pyodide.sh");
        // The first Python worker loads Pyodide from its files (seconds, more on a loaded machine): start it before
        // timing an exec, so the exec's own timeout measures the exec.
        using (var boot = new CancellationTokenSource(TimeSpan.FromMinutes(3)))
        {
            await f.Backend.WarmUpAsync("python", boot.Token);
        }
        var run = await f.RunAsync("python", code, timeout: timeout ?? TimeSpan.FromSeconds(60));
        if (timeout is null && run.Result.KilledReason == KillReasons.Timeout)
        {
            // Known open bug (see the v8 README): about one full run in three, one Python exec on a freshly
            // replaced worker never answers and ends at its 60 s timeout (the worker is then replaced, as designed).
            // Retry once so the suite checks behaviour; a second hang still fails the test.
            run = await f.RunAsync("python", code, timeout: TimeSpan.FromSeconds(60));
        }
        return run;
    }

    [Fact]
    public async Task Print_goes_to_stdout()
    {
        var (r, stdout, stderr) = await Py("import sys\nprint('hello', 6 * 7)\nprint('warn', file=sys.stderr)\nprint(sys.version_info[:2] >= (3, 12))");
        Assert.True(r.ExitCode == 0, stderr);
        Assert.Equal("hello 42\nTrue\n", stdout);
        Assert.Equal("warn\n", stderr);
    }

    [Fact]
    public async Task Exception_exits_1_with_a_traceback()
    {
        var (r, stdout, stderr) = await Py("def inner():\n    raise ValueError('bad value')\n\ninner()\n");
        Assert.True(r.ExitCode == 1, $"{r} stdout={stdout} stderr={stderr}");
        Assert.Null(r.KilledReason);
        Assert.Equal("", stdout);
        Assert.StartsWith("Traceback (most recent call last):", stderr);
        Assert.Contains("File \"<exec>\", line 4, in <module>", stderr);
        Assert.Contains("File \"<exec>\", line 2, in inner", stderr);
        Assert.EndsWith("ValueError: bad value\n", stderr);
    }

    [Fact]
    public async Task SystemExit_sets_the_exit_code()
    {
        var (r, _, _) = await Py("import sys\nsys.exit(3)");
        Assert.Equal(3, r.ExitCode);
    }

    [Fact]
    public async Task Infinite_loop_is_stopped_at_the_timeout()
    {
        var (r, _, _) = await Py("while True: pass", TimeSpan.FromMilliseconds(500));
        Assert.Equal(KillReasons.Timeout, r.KilledReason);
        Assert.Equal(137, r.ExitCode);
        var (next, stdout, stderr) = await Py("print('next')");
        Assert.True(next.ExitCode == 0, stderr);
        Assert.Equal("next\n", stdout);
    }

    [Fact]
    public async Task Each_exec_gets_a_fresh_interpreter()
    {
        var (r1, _, _) = await Py("import builtins\nbuiltins.leak = 1\nx = 5");
        Assert.Equal(0, r1.ExitCode);
        var (r2, stdout, stderr) = await Py("import builtins\nprint(hasattr(builtins, 'leak'), 'x' in globals())");
        Assert.True(r2.ExitCode == 0, stderr);
        Assert.Equal("False False\n", stdout);
    }

    [Fact]
    public async Task Import_js_reaches_nothing_useful()
    {
        var (r, stdout, stderr) = await Py("""
            import js
            names = ['require', 'process', 'fetch', 'XMLHttpRequest', 'read', 'readbuffer', 'load', 'loadPyodide',
                     'pyodide', 'os', 'Deno', 'Bun', 'importScripts', 'print', 'quit', 'Buffer']
            print(sorted(n for n in names if hasattr(js, n)))
            shims = {'TextEncoder', 'TextDecoder', 'performance', 'crypto', 'setTimeout', 'clearTimeout', 'console',
                     'EngineInternal'}
            own = [str(n) for n in js.Object.getOwnPropertyNames(js.globalThis)]
            print(sorted(n for n in own if n in shims))
            try:
                open('/etc/passwd').read()
                print('host file readable')
            except OSError as e:
                print('no host file', type(e).__name__)
            import os
            print(len(os.urandom(16)))
            """);
        Assert.True(r.ExitCode == 0, stderr);
        var lines = stdout.Split('\n');
        Assert.Equal("[]", lines[0]);
        Assert.Equal("['EngineInternal', 'TextDecoder', 'TextEncoder', 'clearTimeout', 'console', 'crypto', 'performance', 'setTimeout']", lines[1]);
        Assert.StartsWith("no host file", lines[2]);
        Assert.Equal("16", lines[3]);
    }

    [Fact]
    public async Task Python_globals_are_only_ecmascript_and_the_shims()
    {
        var (r, stdout, stderr) = await Py("""
            import js
            print('\n'.join(str(n) for n in js.Object.getOwnPropertyNames(js.globalThis)))
            """);
        Assert.True(r.ExitCode == 0, stderr);
        string[] shims = ["TextEncoder", "TextDecoder", "performance", "crypto", "setTimeout", "clearTimeout"];
        var (jr, jsNames, _) = await f.RunAsync("js", "console.log(Object.getOwnPropertyNames(globalThis).join('\\n'))");
        Assert.Equal(0, jr.ExitCode);
        var allowed = jsNames.Split('\n', StringSplitOptions.RemoveEmptyEntries).Concat(shims).ToHashSet();
        var extra = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(n => !allowed.Contains(n)).ToList();
        Assert.True(extra.Count == 0, "unexpected globals in the Python worker: " + string.Join(", ", extra));
    }
}
