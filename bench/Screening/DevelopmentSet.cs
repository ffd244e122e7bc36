using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Airlock.Screening.Bench;

/// <summary>One labelled description from ../shared/data/tool-poisoning.</summary>
public sealed record LabelledText(string File, string Name, string Text, bool Malicious);

public sealed record Counts(int Tp, int Fp, int Fn, int Tn)
{
    public double Precision => Tp + Fp == 0 ? 0 : (double)Tp / (Tp + Fp);
    public double Recall => Tp + Fn == 0 ? 0 : (double)Tp / (Tp + Fn);
    public int Total => Tp + Fp + Fn + Tn;

    public static Counts Of(IEnumerable<(bool Malicious, bool Flagged)> rows)
    {
        int tp = 0, fp = 0, fn = 0, tn = 0;
        foreach (var (m, f) in rows)
        {
            _ = (m, f) switch
            {
                (true, true) => tp++,
                (false, true) => fp++,
                (true, false) => fn++,
                (false, false) => tn++,
            };
        }
        return new(tp, fp, fn, tn);
    }
}

/// <summary>
/// Detection on the development set: every description is screened as a tool description under the default policy.
/// "Flagged" means at least one finding; "blocked" means the default policy withholds the tool. Nothing here knows
/// the set's strings: the screener's rules are the ones shipped.
/// </summary>
public static class DevelopmentSet
{
    public const string RelativeDir = "../shared/data/tool-poisoning";

    /// <summary>The data directory: <c>../shared/data/tool-poisoning</c> from the directory holding Airlock.sln,
    /// found by walking up from <paramref name="start"/>.</summary>
    public static string FindDataDir(string start)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Airlock.sln")))
            {
                return Path.GetFullPath(Path.Combine(dir.FullName, RelativeDir));
            }
        }
        throw new DirectoryNotFoundException($"no Airlock.sln above {start}");
    }

    public static IReadOnlyList<LabelledText> Load(string dataDir)
    {
        var rows = new List<LabelledText>();
        foreach (var path in Directory.GetFiles(dataDir, "*.jsonl").Order(StringComparer.Ordinal))
        {
            var file = Path.GetFileName(path);
            foreach (var line in File.ReadLines(path).Where(l => l.Trim().Length > 0))
            {
                using var doc = JsonDocument.Parse(line);
                var root = doc.RootElement;
                var text = root.TryGetProperty("description", out var d) ? d.GetString() : root.GetProperty("text").GetString();
                rows.Add(new(file, root.GetProperty("name").GetString() ?? "", text ?? "", root.GetProperty("label").GetString() == "malicious"));
            }
        }
        return rows;
    }

    public sealed record Row(LabelledText Item, ScreeningResult Result)
    {
        public bool Flagged => Result.Findings.Count > 0;

        /// <summary>Flagged by a finding of medium or high severity: the size cap alone is not a poisoning claim.</summary>
        public bool FlaggedMedium => Result.Findings.Any(f => f.Severity >= Severity.Medium);
        public bool Blocked => Result.Blocked;
    }

    public static IReadOnlyList<Row> Screen(IEnumerable<LabelledText> items, Screener screener) =>
        [.. items.Select(i => new Row(i, screener.ScreenDescription(i.Text)))];

    /// <summary>The markdown report written to docs/screening.md.</summary>
    public static string Report(IReadOnlyList<Row> rows, bool listMisses)
    {
        var sb = new StringBuilder();
        string F(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);
        sb.AppendLine("| set | criterion | TP | FP | FN | TN | precision | recall |");
        sb.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        var sets = rows.Select(r => r.Item.File).Distinct().Append("all").ToList();
        foreach (var set in sets)
        {
            var subset = rows.Where(r => set == "all" || r.Item.File == set).ToList();
            foreach (var (criterion, pick) in new (string, Func<Row, bool>)[] { ("any finding", r => r.Flagged), ("medium/high finding", r => r.FlaggedMedium), ("blocked (default policy)", r => r.Blocked) })
            {
                var c = Counts.Of(subset.Select(r => (r.Item.Malicious, pick(r))));
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {set} | {criterion} | {c.Tp} | {c.Fp} | {c.Fn} | {c.Tn} | {F(c.Precision)} | {F(c.Recall)} |");
            }
        }
        sb.AppendLine();
        sb.AppendLine("Descriptions with at least one finding of each code, by label (a description can count under several codes):");
        sb.AppendLine();
        sb.AppendLine("| code | malicious | benign |");
        sb.AppendLine("| --- | ---: | ---: |");
        foreach (var code in FindingCodes.All)
        {
            var m = rows.Count(r => r.Item.Malicious && r.Result.Findings.Any(f => f.Code == code));
            var b = rows.Count(r => !r.Item.Malicious && r.Result.Findings.Any(f => f.Code == code));
            sb.AppendLine(CultureInfo.InvariantCulture, $"| `{code}` | {m} | {b} |");
        }
        if (listMisses)
        {
            sb.AppendLine();
            sb.AppendLine("False positives:");
            foreach (var r in rows.Where(r => !r.Item.Malicious && r.Flagged))
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"- {r.Item.File} {r.Item.Name}: {string.Join("; ", r.Result.Findings.Select(f => f.Code + " " + f.Message))}");
            }
            sb.AppendLine();
            sb.AppendLine("False negatives:");
            foreach (var r in rows.Where(r => r.Item.Malicious && !r.Flagged))
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"- {r.Item.File} {r.Item.Name}: {r.Item.Text.ReplaceLineEndings(" ").Trim()}");
            }
        }
        return sb.ToString();
    }
}
