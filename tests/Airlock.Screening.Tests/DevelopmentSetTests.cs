using Airlock.Screening;
using Airlock.Screening.Bench;
using Xunit.Abstractions;

namespace Airlock.Screening.Tests;

/// <summary>Detection on ../shared/data/tool-poisoning (a development set: nothing in the rules knows its strings).
/// Prints the same table as <c>dotnet run --project bench/Screening</c>; the assertions are floors that catch a
/// regression, not targets.</summary>
public class DevelopmentSetTests(ITestOutputHelper output)
{
    [Fact]
    public void Detection_on_the_development_set()
    {
        var dir = DevelopmentSet.FindDataDir(AppContext.BaseDirectory);
        Assert.True(Directory.Exists(dir), $"{dir} is missing");
        var items = DevelopmentSet.Load(dir);
        Assert.Equal(502, items.Count);

        var rows = DevelopmentSet.Screen(items, new Screener());
        output.WriteLine(DevelopmentSet.Report(rows, listMisses: false));

        var flagged = Counts.Of(rows.Select(r => (r.Item.Malicious, r.FlaggedMedium)));
        var blocked = Counts.Of(rows.Select(r => (r.Item.Malicious, r.Blocked)));
        Assert.True(flagged.Precision >= 0.95, $"precision {flagged}");
        Assert.True(flagged.Recall >= 0.5, $"recall {flagged}");
        Assert.Equal(0, blocked.Fp); // the default policy withholds no benign tool
    }
}
