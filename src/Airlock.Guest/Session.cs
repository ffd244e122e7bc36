using System.Text.Json;
using Airlock.Guest.Files;
using Airlock.Guest.Native;
using Airlock.Guest.Protocol;

namespace Airlock.Guest;

/// <summary>Exit codes of <c>airlock-guest stdio</c> when there is no exec exit code to pass on.</summary>
internal static class GuestExitCodes
{
    public const int Ok = 0;
    /// <summary>The guest itself failed: protocol violation, invalid request or lost connection (like docker's 125).</summary>
    public const int GuestError = 125;
    /// <summary>The program could not be started (like a shell's "command not found").</summary>
    public const int SpawnFailed = 127;
}

/// <summary>Serves the single operation a connection carries, then returns (the caller closes the connection).</summary>
internal static class Session
{
    /// <summary>Returns the exec's exit code, or one of <see cref="GuestExitCodes"/>.</summary>
    public static async Task<int> RunAsync(Connection conn, WorkspaceFs fs, CancellationToken shutdown)
    {
        try
        {
            var frame = await conn.Reader.ReadAsync(shutdown).ConfigureAwait(false);
            switch (frame?.Type)
            {
                case null:
                    return GuestExitCodes.Ok; // connected and left (e.g. a readiness probe)
                case FrameType.Exec:
                    return await ExecRunner.RunAsync(conn, frame.Value.Json<ExecRequest>(), fs.Root, shutdown).ConfigureAwait(false);
                case FrameType.File:
                    var req = frame.Value.Json<FileRequest>();
                    if (req.Path is null)
                    {
                        throw new ProtocolException("file request: path is required");
                    }
                    await FileHandler.RunAsync(conn, req, fs, shutdown).ConfigureAwait(false);
                    return GuestExitCodes.Ok;
                case FrameType.Ping:
                    await conn.Writer.WriteJsonAsync(FrameType.Pong, new GuestInfo(Wire.Version, Libc.getpid(), fs.Root), shutdown).ConfigureAwait(false);
                    return GuestExitCodes.Ok;
                default:
                    throw new ProtocolException($"expected an Exec, File or Ping frame first, got {Describe(frame.Value.Type)}");
            }
        }
        catch (Exception e) when (e is ProtocolException or JsonException or NotSupportedException)
        {
            await TrySendErrorAsync(conn, ErrorCodes.Protocol, e.Message).ConfigureAwait(false);
            return GuestExitCodes.GuestError;
        }
        catch (OperationCanceledException) when (shutdown.IsCancellationRequested)
        {
            return GuestExitCodes.GuestError;
        }
        catch (IOException e)
        {
            Log.Write($"connection lost: {e.Message}");
            return GuestExitCodes.GuestError;
        }
        catch (Exception e)
        {
            // A bug in the guest must cost one operation, never the sandbox's PID 1.
            Log.Write($"internal error: {e}");
            await TrySendErrorAsync(conn, ErrorCodes.Io, $"internal guest error: {e.Message}").ConfigureAwait(false);
            return GuestExitCodes.GuestError;
        }
    }

    private static string Describe(FrameType type) => Enum.IsDefined(type) ? type.ToString() : $"frame type {(byte)type}";

    private static async Task TrySendErrorAsync(Connection conn, string code, string message)
    {
        try
        {
            await conn.SendErrorAsync(code, message).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The peer is gone already.
        }
    }
}
