using System.IO.Pipelines;
using System.Text;
using Airlock.Core.Backends;
using Airlock.Core.Model;
using Airlock.Core.Validation;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Airlock.Mcp.Gateway;

/// <summary>The sandbox an upstream server runs in: strict template defaults plus exactly what its config names.</summary>
public static class UpstreamTemplates
{
    public static SandboxTemplate For(string server, UpstreamSpec s)
    {
        var env = new Dictionary<string, string>(SandboxTemplate.DefaultEnv);
        foreach (var (k, v) in s.Env)
        {
            env[k] = v;
        }
        var name = "mcp-" + new string(server.ToLowerInvariant().Select(ch => char.IsAsciiLetterOrDigit(ch) ? ch : '-').ToArray());
        return new SandboxTemplate
        {
            Name = name.Length > 63 ? name[..63].TrimEnd('-') : name.TrimEnd('-'),
            Description = $"MCP server '{server}' behind the Airlock gateway",
            Isolation = new IsolationSpec { Runtime = s.Runtime },
            Mounts = s.Mounts,
            Resources = s.Resources,
            Env = env,
            Network = s.AllowDomains.Count == 0 && s.Resolve.Count == 0 ? new NetworkSpec() : new NetworkSpec
            {
                Mode = s.AllowDomains.Count == 0 ? NetworkModes.None : NetworkModes.Egress, // pins alone: refused by validation
                Allow = s.AllowDomains.Select(Rule).ToList(),
                Resolve = s.Resolve,
            },
        };
    }

    private static EgressRule Rule(string d)
    {
        var colon = d.LastIndexOf(':');
        return colon > 0 && int.TryParse(d.AsSpan(colon + 1), out var port)
            ? new EgressRule { Domain = d[..colon], Ports = [port] }
            : new EgressRule { Domain = d };
    }
}

/// <summary>Starts an upstream MCP server and connects an MCP client to it.</summary>
public interface IUpstreamLauncher
{
    Task<UpstreamConnection> StartAsync(string server, UpstreamSpec spec, CancellationToken ct);
}

/// <summary>
/// Runs each upstream server as one long exec in a fresh sandbox of an isolation backend (OCI): the SDK's stream
/// transport speaks JSON-RPC over the exec's stdin and stdout. The sandbox is destroyed when the connection is.
/// </summary>
public sealed class SandboxUpstreamLauncher(IIsolationBackend backend, TextWriter? log = null) : IUpstreamLauncher
{
    /// <summary>An upstream lives as long as the gateway: no wall-clock limit the host's backstop can hold
    /// (CancellationTokenSource caps at ~49 days), and no output cap (the guest's 0 is "none").</summary>
    private static readonly TimeSpan Lifetime = TimeSpan.FromDays(24);

    public async Task<UpstreamConnection> StartAsync(string server, UpstreamSpec spec, CancellationToken ct)
    {
        var template = UpstreamTemplates.For(server, spec);
        TemplateValidator.EnsureValid(template, [backend]);
        var toServer = new Pipe();
        var fromServer = new Pipe();
        var stderr = new StderrRelay(server, log ?? Console.Error);
        var io = new ExecIo(
            toServer.Reader.AsStream(),
            async (b, c) => await fromServer.Writer.WriteAsync(b, c).ConfigureAwait(false),
            (b, _) => { stderr.Write(b.Span); return ValueTask.CompletedTask; });
        var stop = new CancellationTokenSource();
        var run = Task.Run(async () =>
        {
            try
            {
                var r = await backend.RunAsync(template, new ExecSpec(spec.Command, Cwd: spec.Cwd, Timeout: Lifetime, OutputLimit: 0), io, stop.Token).ConfigureAwait(false);
                stderr.Flush();
                return $"exited {r.Result.ExitCode}{(r.Result.KilledReason is { } k ? " killed:" + k : "")}";
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return "stopped";
            }
            catch (Exception e)
            {
                stderr.Flush();
                return "failed: " + e.Message;
            }
            finally
            {
                await fromServer.Writer.CompleteAsync().ConfigureAwait(false);
            }
        }, CancellationToken.None);
        var transport = new StreamClientTransport(toServer.Writer.AsStream(), fromServer.Reader.AsStream(), NullLoggerFactory());
        McpClient client;
        try
        {
            using var init = CancellationTokenSource.CreateLinkedTokenSource(ct);
            init.CancelAfter(TimeSpan.FromSeconds(60));
            var connect = McpClient.CreateAsync(transport, new McpClientOptions
            {
                ClientInfo = new Implementation { Name = "airlock-gateway", Version = GatewayHosting.Version },
            }, null, init.Token);
            // A server that dies before answering initialize must not leave us waiting for the timeout.
            var first = await Task.WhenAny(connect, run).ConfigureAwait(false);
            if (first == run)
            {
                throw new UpstreamException(server, $"the server ended before it answered initialize ({await run.ConfigureAwait(false)}){stderr.Tail()}");
            }
            client = await connect.ConfigureAwait(false);
        }
        catch (Exception e) when (e is not UpstreamException)
        {
            await stop.CancelAsync().ConfigureAwait(false);
            var how = await run.ConfigureAwait(false);
            stop.Dispose();
            throw new UpstreamException(server, $"could not connect ({e.Message}; the server {how}){stderr.Tail()}");
        }
        catch
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await run.ConfigureAwait(false);
            stop.Dispose();
            throw;
        }
        return new UpstreamConnection(server, client, run, async () =>
        {
            await toServer.Writer.CompleteAsync().ConfigureAwait(false);
            // An honest server exits when stdin closes; give it a moment, then destroy the sandbox.
            if (await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None)).ConfigureAwait(false) != run)
            {
                await stop.CancelAsync().ConfigureAwait(false);
            }
            await run.ConfigureAwait(false);
            stop.Dispose();
        });
    }

    private static ILoggerFactory NullLoggerFactory() => Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance;

    /// <summary>The server's stderr, to the gateway's log one line at a time, with control characters escaped (it is
    /// untrusted text on the operator's terminal) and a cap per line; the last lines are kept for error messages.</summary>
    private sealed class StderrRelay(string server, TextWriter log)
    {
        private readonly StringBuilder _line = new();
        private readonly Queue<string> _tail = new();
        private readonly Lock _gate = new();

        public void Write(ReadOnlySpan<byte> bytes)
        {
            var text = Encoding.UTF8.GetString(bytes);
            lock (_gate)
            {
                foreach (var ch in text)
                {
                    if (ch == '\n')
                    {
                        Emit();
                    }
                    else if (_line.Length < 1000)
                    {
                        _line.Append(char.IsControl(ch) || char.GetUnicodeCategory(ch) is System.Globalization.UnicodeCategory.Format ? $"\\u{(int)ch:x4}" : ch);
                    }
                }
            }
        }

        public void Flush()
        {
            lock (_gate)
            {
                if (_line.Length > 0)
                {
                    Emit();
                }
            }
        }

        private void Emit()
        {
            var line = _line.ToString();
            _line.Clear();
            _tail.Enqueue(line);
            if (_tail.Count > 5)
            {
                _tail.Dequeue();
            }
            log.WriteLine($"airlock gateway: [{server}] {line}");
        }

        public string Tail()
        {
            lock (_gate)
            {
                return _tail.Count == 0 ? "" : "; its stderr ended: " + string.Join(" | ", _tail);
            }
        }
    }
}

/// <summary>A connected upstream: the client, and how its process ended once it has.</summary>
public sealed class UpstreamConnection(string server, McpClient client, Task<string> exited, Func<Task> stop) : IAsyncDisposable
{
    public string Server { get; } = server;

    public McpClient Client { get; } = client;

    /// <summary>Completes with how the server ended (<c>exited 0</c>, <c>stopped</c>, <c>failed: …</c>).</summary>
    public Task<string> Exited { get; } = exited;

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Client.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            await stop().ConfigureAwait(false);
        }
    }
}

public sealed class UpstreamException(string server, string message) : Exception($"upstream '{server}': {message}")
{
    public string Server { get; } = server;
}
