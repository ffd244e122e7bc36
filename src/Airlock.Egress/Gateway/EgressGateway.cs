using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Airlock.Core.Backends;
using Airlock.Core.Model;
using Airlock.Egress.Policy;
using Airlock.Egress.Proxy;

namespace Airlock.Egress.Gateway;

/// <summary>Settings of the process that hosts egress proxies (the CLI or the daemon), not of any template.</summary>
public sealed record EgressGatewayOptions
{
    /// <summary>Receives every connection decision of every sandbox (the daemon writes them to the audit log).</summary>
    public Action<EgressEvent>? Audit { get; init; }

    /// <summary>Resolves names for the proxies; the system resolver when null.</summary>
    public IEgressResolver? Resolver { get; init; }

    /// <summary>Pins added to every policy this gateway serves (<c>airlock run --resolve HOST:PORT:ADDR</c>).</summary>
    public IReadOnlyList<EgressPin> ExtraPins { get; init; } = [];

    /// <summary>Where secret values come from; this process's environment when null.</summary>
    public Func<string, string?>? Environment { get; init; }

    /// <summary>Roots trusted, besides the system's, when a terminating proxy checks an upstream server's
    /// certificate (<c>AIRLOCK_EGRESS_CA_FILE</c>: a corporate CA, or a test server's).</summary>
    public X509Certificate2Collection? UpstreamTrustedRoots { get; init; }

    /// <summary>Reads <c>AIRLOCK_EGRESS_CA_FILE</c> (PEM, one or more certificates) when set.</summary>
    public static X509Certificate2Collection? TrustedRootsFromEnvironment()
    {
        var file = System.Environment.GetEnvironmentVariable("AIRLOCK_EGRESS_CA_FILE");
        if (string.IsNullOrEmpty(file))
        {
            return null;
        }
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(file);
        return roots;
    }
}

/// <summary>Runs one <see cref="EgressProxy"/> per egress sandbox, each on the Unix socket the backend binds into
/// that sandbox, each with its own policy, limits and (when TLS is terminated) certificate authority.</summary>
public sealed class EgressGateway(EgressGatewayOptions? options = null) : IEgressGateway
{
    private readonly EgressGatewayOptions _options = options ?? new EgressGatewayOptions();

    public IEgressSession Open(string sandboxId, NetworkSpec network, string socketPath)
    {
        var policy = EgressPolicy.FromNetwork(network, _options.ExtraPins, _options.Environment);
        var engine = new PolicyEngine(policy, _options.Resolver ?? new SystemResolver());
        var ca = policy.TerminateTls ? new SandboxCa(sandboxId) : null;
        EgressProxy proxy;
        try
        {
            proxy = new EgressProxy(engine, new EgressProxyOptions
            {
                Sandbox = sandboxId,
                Audit = _options.Audit,
                CertificateAuthority = ca,
                UpstreamTrustedRoots = _options.UpstreamTrustedRoots,
            });
        }
        catch
        {
            ca?.Dispose();
            throw;
        }
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(socketPath));
            listener.Listen(512);
        }
        catch
        {
            listener.Dispose();
            ca?.Dispose();
            throw;
        }
        return new Session(proxy, listener, socketPath, ca);
    }

    private sealed class Session : IEgressSession
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Socket _listener;
        private readonly string _path;
        private readonly SandboxCa? _ca;
        private readonly Task _serve;

        public Session(EgressProxy proxy, Socket listener, string path, SandboxCa? ca)
        {
            (_listener, _path, _ca) = (listener, path, ca);
            CaCertificatePem = ca?.CertificatePem;
            _serve = Task.Run(() => proxy.ServeAsync(listener, _stop.Token));
        }

        public string? CaCertificatePem { get; }

        public void Dispose()
        {
            if (_stop.IsCancellationRequested)
            {
                return;
            }
            _stop.Cancel();
            _listener.Dispose();
            try
            {
                File.Delete(_path);
            }
            catch (IOException)
            {
            }
            // Open connections end with the sandbox; wait (briefly) until each has been reported.
            _serve.Wait(TimeSpan.FromSeconds(5));
            _ca?.Dispose();
            _stop.Dispose();
        }
    }
}

