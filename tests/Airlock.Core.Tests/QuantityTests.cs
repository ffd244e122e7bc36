using Airlock.Core.Util;

namespace Airlock.Core.Tests;

public class QuantityTests
{
    [Theory]
    [InlineData("512Mi", 512L << 20)]
    [InlineData("1Gi", 1L << 30)]
    [InlineData("1G", 1_000_000_000)]
    [InlineData("4096", 4096)]
    [InlineData("1.5Ki", 1536)]
    public void ParsesSizes(string text, long bytes) => Assert.Equal(bytes, Quantity.ParseBytes(text));

    [Theory]
    [InlineData("")]
    [InlineData("Mi")]
    [InlineData("-1Mi")]
    [InlineData("1 Mi")]
    [InlineData("99999999999Ti")]
    public void RejectsBadSizes(string text) => Assert.False(Quantity.TryParseBytes(text, out _));

    [Theory]
    [InlineData("500ms", 500)]
    [InlineData("10s", 10_000)]
    [InlineData("2m", 120_000)]
    [InlineData("1h", 3_600_000)]
    public void ParsesDurations(string text, double ms) => Assert.Equal(ms, Quantity.ParseDuration(text).TotalMilliseconds);

    [Theory]
    [InlineData("10")]
    [InlineData("s")]
    [InlineData("-1s")]
    public void RejectsBadDurations(string text) => Assert.False(Quantity.TryParseDuration(text, out _));
}
