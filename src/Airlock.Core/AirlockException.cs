namespace Airlock.Core;

/// <summary>The one error type of the Airlock core: a stable code, one line of cause and one line of remedy.</summary>
public class AirlockException(string code, string message, string? remedy = null, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>Stable machine-readable code (<see cref="ErrorCodes"/>).</summary>
    public string Code { get; } = code;

    /// <summary>What the user can do about it.</summary>
    public string? Remedy { get; } = remedy;

    public static class ErrorCodes
    {
        public const string InvalidTemplate = "invalid-template";
        public const string NotFound = "not-found";
        public const string RuntimeMissing = "runtime-missing";
        public const string RuntimeFailed = "runtime-failed";
        public const string GuestUnavailable = "guest-unavailable";
        public const string HostUnsupported = "host-unsupported";
        public const string InvalidArgument = "invalid-argument";
        public const string File = "file";
        public const string Suspended = "suspended";
        public const string Conflict = "conflict";
        public const string NotReady = "not-ready";
        public const string Unauthorized = "unauthorized";
        public const string Forbidden = "forbidden";
        public const string TooLarge = "too-large";
        public const string InvalidRequest = "invalid-request";
    }
}
