// Detection rates of Airlock.Screening on the tool-poisoning development set (../shared/data/tool-poisoning).
//   dotnet run --project bench/Screening -c Release [-- --misses] [--data DIR]
using Airlock.Screening;
using Airlock.Screening.Bench;

var listMisses = args.Contains("--misses");
var dataAt = Array.IndexOf(args, "--data");
var dataDir = dataAt >= 0 && dataAt + 1 < args.Length ? args[dataAt + 1] : DevelopmentSet.FindDataDir(AppContext.BaseDirectory);

var items = DevelopmentSet.Load(dataDir);
var started = System.Diagnostics.Stopwatch.StartNew();
var rows = DevelopmentSet.Screen(items, new Screener());
var elapsed = started.Elapsed;
Console.WriteLine($"{items.Count} descriptions from {dataDir}, screened in {elapsed.TotalMilliseconds:0} ms (default policy)");
Console.WriteLine();
Console.Write(DevelopmentSet.Report(rows, listMisses));

// Cost per tool result, for the gateway's per-call budget: a 4 KiB markdown/JSON mix, clean, so nothing short-circuits.
var sample = string.Concat(Enumerable.Repeat("Line with `code`, a [link](https://example.com/a?b=1), {\"k\": [1, 2]} and 日本語.\n", 52));
var screener = new Screener();
for (var i = 0; i < 200; i++)
{
    screener.ScreenResult(sample);
}
var timings = new double[2000];
for (var i = 0; i < timings.Length; i++)
{
    var t = System.Diagnostics.Stopwatch.GetTimestamp();
    screener.ScreenResult(sample);
    timings[i] = System.Diagnostics.Stopwatch.GetElapsedTime(t).TotalMicroseconds;
}
Array.Sort(timings);
Console.WriteLine();
Console.WriteLine($"ScreenResult on a {sample.Length}-character result: p50 {timings[timings.Length / 2]:0} µs, p99 {timings[timings.Length * 99 / 100]:0} µs");
