using Airlock.Core.Model;

namespace Airlock.Core.Backends;

/// <summary>
/// Runs the egress proxy of sandboxes whose network mode is <c>egress</c>. The proxy lives outside the sandbox, in the
/// process that owns it (the CLI for <c>airlock run</c>, the daemon otherwise), and listens on a Unix socket that the
/// backend binds into the sandbox; the in-sandbox forwarder relays 127.0.0.1:<see cref="NetworkEnvironment.ProxyPort"/>
/// to it.
/// </summary>
public interface IEgressGateway
{
    /// <summary>Starts the proxy of <paramref name="sandboxId"/> listening on <paramref name="socketPath"/>.
    /// Throws <see cref="AirlockException"/> (naming the field) when the policy cannot be served, e.g. a secret's
    /// value is missing.</summary>
    IEgressSession Open(string sandboxId, NetworkSpec network, string socketPath);
}

/// <summary>One sandbox's running proxy; disposing stops it and removes its socket.</summary>
public interface IEgressSession : IDisposable
{
    /// <summary>PEM of the CA generated for this sandbox when the policy terminates TLS, else null.</summary>
    string? CaCertificatePem { get; }
}

/// <summary>What a process in an egress sandbox sees: proxy variables (both spellings, since tools differ), the
/// secret placeholders, and the per-sandbox CA when TLS is terminated.</summary>
public static class NetworkEnvironment
{
    /// <summary>The forwarder's port on the sandbox's loopback.</summary>
    public const int ProxyPort = 3128;

    /// <summary>Where the backend places the CA certificate inside the sandbox (when TLS is terminated).</summary>
    public const string CaPath = "/.airlock/run/egress-ca.pem";

    public static IReadOnlyDictionary<string, string> For(NetworkSpec network)
    {
        var env = new Dictionary<string, string>();
        if (network.Mode != NetworkModes.Egress)
        {
            return env;
        }
        var http = $"http://127.0.0.1:{ProxyPort}";
        // socks5h: the proxy resolves names (the sandbox has no resolver).
        var socks = $"socks5h://127.0.0.1:{ProxyPort}";
        foreach (var (name, value) in new[] { ("HTTP_PROXY", http), ("HTTPS_PROXY", http), ("ALL_PROXY", socks), ("NO_PROXY", "localhost,127.0.0.1,::1") })
        {
            env[name] = value;
            env[name.ToLowerInvariant()] = value;
        }
        if (network.TerminateTls)
        {
            foreach (var name in new[] { "SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO", "PIP_CERT" })
            {
                env[name] = CaPath;
            }
        }
        foreach (var s in network.Secrets)
        {
            if (s.Env is { } name)
            {
                env[name] = s.Placeholder;
            }
        }
        return env;
    }
}
