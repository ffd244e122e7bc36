using System.Buffers.Binary;
using Airlock.Guest.Protocol;

namespace Airlock.Guest.Tests;

public sealed class FrameStreamTests
{
    private static byte[] Header(uint length, byte version, FrameType type)
    {
        var h = new byte[Wire.HeaderSize];
        BinaryPrimitives.WriteUInt32BigEndian(h, length);
        h[4] = version;
        h[5] = (byte)type;
        return h;
    }

    [Fact]
    public async Task Oversized_length_is_a_protocol_error()
    {
        var fs = new FrameStream(new MemoryStream(Header(Wire.MaxPayload + 1u, Wire.Version, FrameType.Data)));
        var e = await Assert.ThrowsAsync<ProtocolException>(async () => await fs.ReadAsync());
        Assert.Contains("exceeds", e.Message);
    }

    [Fact]
    public async Task Wrong_version_is_a_protocol_error()
    {
        var fs = new FrameStream(new MemoryStream(Header(0, 2, FrameType.Ping)));
        var e = await Assert.ThrowsAsync<ProtocolException>(async () => await fs.ReadAsync());
        Assert.Contains("version", e.Message);
    }

    [Fact]
    public async Task Truncated_frame_is_a_protocol_error_and_clean_eof_is_null()
    {
        var truncated = new FrameStream(new MemoryStream([.. Header(10, Wire.Version, FrameType.Data), 1, 2, 3]));
        await Assert.ThrowsAsync<ProtocolException>(async () => await truncated.ReadAsync());
        Assert.Null(await new FrameStream(new MemoryStream()).ReadAsync());
    }

    [Fact]
    public async Task Frames_roundtrip_and_big_payloads_are_split()
    {
        var buffer = new MemoryStream();
        var writer = new FrameStream(buffer);
        await writer.WriteJsonAsync(FrameType.Exec, new ExecRequest(["echo", "hi"], ["A=1"], "/w", 5, 6, true));
        await writer.WriteAsync(FrameType.Data, new byte[Wire.MaxPayload + 10]);
        buffer.Position = 0;
        var reader = new FrameStream(buffer);
        var exec = (await reader.ReadAsync())!.Value.Json<ExecRequest>();
        Assert.Equal(["echo", "hi"], exec.Argv);
        Assert.True(exec.Stdin);
        Assert.Equal(Wire.MaxPayload, (await reader.ReadAsync())!.Value.Payload.Length);
        Assert.Equal(10, (await reader.ReadAsync())!.Value.Payload.Length);
        Assert.Null(await reader.ReadAsync());
    }
}
