using Airlock.Guest.Protocol;

namespace Airlock.Guest;

/// <summary>One host connection: a socket (same stream both ways) or the guest's own stdio (fd 0 in, fd 1 out).</summary>
internal sealed class Connection(Stream input, Stream output)
{
    public FrameStream Reader { get; } = new(input);
    public FrameStream Writer { get; } = new(output);

    public ValueTask SendErrorAsync(string code, string message, CancellationToken ct = default) =>
        Writer.WriteJsonAsync(FrameType.Error, new ErrorInfo(code, message), ct);
}
