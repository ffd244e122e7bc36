using System.Diagnostics;
using Airlock.Core.Backends;
using Airlock.Guest.Protocol;

namespace Airlock.Backends.Wasm.Tests;

public sealed class LimitTests(WasmFixture f) : IClassFixture<WasmFixture>
{
    [Fact]
    public async Task Infinite_loop_is_stopped_by_the_epoch_deadline()
    {
        // Fuel enough for minutes: only the timeout can stop it.
        var backend = f.NewBackend(new WasmOptions { Fuel = long.MaxValue / 4 });
        var sw = Stopwatch.StartNew();
        var r = await Captured.RunAsync(backend, WasmFixture.Template(), new ExecSpec([Fixtures.Path("loop")], Timeout: TimeSpan.FromMilliseconds(300)));
        sw.Stop();

        Assert.Equal(KillReasons.Timeout, r.Result.KilledReason);
        Assert.Equal(137, r.Result.ExitCode);
        Assert.Equal(9, r.Result.Signal);
        Assert.Equal("looping\n", r.Stdout);
        Assert.InRange(sw.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Infinite_loop_is_stopped_by_fuel()
    {
        var backend = f.NewBackend(new WasmOptions { Fuel = 20_000_000 });
        var sw = Stopwatch.StartNew();
        var r = await Captured.RunAsync(backend, WasmFixture.Template(), new ExecSpec([Fixtures.Path("loop")], Timeout: TimeSpan.FromSeconds(60)));
        sw.Stop();

        Assert.Equal(WasmKillReasons.Fuel, r.Result.KilledReason);
        Assert.Equal("out-of-fuel", r.Detail.Trap);
        Assert.Equal(137, r.Result.ExitCode);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(20), $"fuel should stop the loop long before the 60 s timeout, took {sw.Elapsed}");
    }

    [Fact]
    public async Task Default_fuel_scales_with_the_timeout_and_lets_short_programs_finish()
    {
        var r = await Captured.RunAsync(f.Backend, WasmFixture.Template(), new ExecSpec([Fixtures.Path("hello")], Timeout: TimeSpan.FromMilliseconds(200)));
        Assert.Equal(0, r.Result.ExitCode);
        Assert.Null(r.Result.KilledReason);
    }

    [Fact]
    public async Task Sleeping_in_the_host_is_stopped_by_the_timeout()
    {
        var sw = Stopwatch.StartNew();
        var r = await Captured.RunAsync(f.Backend, WasmFixture.Template(), new ExecSpec([Fixtures.Path("sleep"), "3600"], Timeout: TimeSpan.FromMilliseconds(300)));
        sw.Stop();

        Assert.Equal(KillReasons.Timeout, r.Result.KilledReason);
        Assert.Equal("sleeping\n", r.Stdout);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"took {sw.Elapsed}");
    }

    [Fact]
    public async Task A_short_sleep_completes()
    {
        var sw = Stopwatch.StartNew();
        var r = await Captured.RunAsync(f.Backend, WasmFixture.Template(), new ExecSpec([Fixtures.Path("sleep"), "1"]));
        sw.Stop();

        Assert.Equal(0, r.Result.ExitCode);
        Assert.Equal("sleeping\nwoke\n", r.Stdout);
        Assert.InRange(sw.Elapsed, TimeSpan.FromMilliseconds(900), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Memory_growth_past_the_limit_fails_cleanly_and_the_host_carries_on()
    {
        var template = WasmFixture.Template(r => r with { Memory = "16Mi" });
        var r = await Captured.RunAsync(f.Backend, template, new ExecSpec([Fixtures.Path("grow")]));

        // The store refused memory.grow, malloc returned NULL, and the module exited on its own.
        Assert.Equal(3, r.Result.ExitCode);
        Assert.Null(r.Result.Signal);
        Assert.Equal(KillReasons.Memory, r.Result.KilledReason);
        var mib = int.Parse(r.Stdout.Split("after ")[1].Split(' ')[0]);
        Assert.InRange(mib, 10, 15);
        Assert.InRange(r.Detail.MemoryBytes, 15L << 20, 16L << 20);

        // A larger limit lets the same module get further: the limit is the store's, per exec.
        var bigger = await Captured.RunAsync(f.Backend, WasmFixture.Template(l => l with { Memory = "48Mi" }), new ExecSpec([Fixtures.Path("grow")]));
        var more = int.Parse(bigger.Stdout.Split("after ")[1].Split(' ')[0]);
        Assert.InRange(more, 40, 47);

        var after = await Captured.RunAsync(f.Backend, template, new ExecSpec([Fixtures.Path("hello")]));
        Assert.Equal(0, after.Result.ExitCode);
    }

    [Fact]
    public async Task Output_past_the_cap_is_dropped_and_the_module_killed()
    {
        var r = await Captured.RunAsync(f.Backend, WasmFixture.Template(), new ExecSpec([Fixtures.Path("spew")], OutputLimit: 64 << 10));

        Assert.Equal(KillReasons.OutputLimit, r.Result.KilledReason);
        Assert.True(r.Result.Truncated);
        Assert.Equal(137, r.Result.ExitCode);
        Assert.Equal(64 << 10, r.Result.StdoutBytes);
        Assert.Equal(64 << 10, r.Stdout.Length);
        Assert.StartsWith("line 0: the quick brown fox", r.Stdout);
    }

    [Fact]
    public async Task Output_cap_comes_from_the_template()
    {
        var template = WasmFixture.Template(l => l with { OutputLimit = "1Ki" });
        var r = await Captured.RunAsync(f.Backend, template, new ExecSpec([Fixtures.Path("spew")]));
        Assert.Equal(KillReasons.OutputLimit, r.Result.KilledReason);
        Assert.Equal(1024, r.Result.StdoutBytes + r.Result.StderrBytes);
    }

    [Fact]
    public async Task Cancellation_stops_a_running_module()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        var sw = Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            f.Backend.RunAsync(WasmFixture.Template(), new ExecSpec([Fixtures.Path("loop")]), ExecIo.Null, cts.Token));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"took {sw.Elapsed}");
    }

    [Fact]
    public async Task Concurrent_execs_beyond_the_pool_wait_for_a_slot()
    {
        var backend = f.NewBackend(new WasmOptions { MaxConcurrentExecutions = 2 });
        var runs = Enumerable.Range(0, 6).Select(i => Captured.RunAsync(backend, WasmFixture.Template(), new ExecSpec([Fixtures.Path("hello"), i.ToString()])));
        var results = await Task.WhenAll(runs);
        Assert.Equal([0, 1, 2, 3, 4, 5], results.Select(r => r.Result.ExitCode));
    }
}
