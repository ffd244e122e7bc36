using System.Text;
using System.Text.Json;
using Airlock.ControlPlane.Audit;
using Airlock.Egress.Proxy;

namespace Airlock.Server.Hosting;

/// <summary>Writes each egress connection to the audit log: action <c>egress.connect</c> (or
/// <c>egress.exfiltration</c> when a secret's placeholder was sent where the secret is not for), the sandbox as
/// target, the decision and deciding rule, and the connection's facts as JSON in the detail.</summary>
internal static class EgressAudit
{
    public static void Append(AuditLog audit, (string Tenant, string Name)? owner, EgressEvent e)
    {
        var (tenant, name) = owner ?? ("system", e.Sandbox);
        var exfiltration = e.SecretsWithheld is { Count: > 0 };
        var entry = new AuditEntry(
            tenant, "egress-proxy", exfiltration ? "egress.exfiltration" : "egress.connect", name,
            e.Allowed ? "allowed" : "denied", e.Rule, e.Allowed ? "ok" : "refused", e.DurationMs, Detail(e));
        // Fire and forget: the connection is over; the log's group commit makes it durable shortly.
        _ = audit.AppendAsync(entry);
    }

    public static string Detail(EgressEvent e)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("sandbox", e.Sandbox);
            w.WriteString("protocol", e.Protocol);
            w.WriteString("host", e.Host);
            w.WriteNumber("port", e.Port);
            if (e.Address is not null)
            {
                // The proxy names the endpoint it connected to; the port is already in "port".
                w.WriteString("address", System.Net.IPEndPoint.TryParse(e.Address, out var ep) ? ep.Address.ToString() : e.Address);
            }
            w.WriteString("reason", e.Reason);
            w.WriteNumber("bytesUp", e.BytesUp);
            w.WriteNumber("bytesDown", e.BytesDown);
            if (e.Terminated)
            {
                w.WriteBoolean("tlsTerminated", true);
            }
            Names(w, "secretsInjected", e.SecretsInjected);
            Names(w, "secretsWithheld", e.SecretsWithheld);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void Names(Utf8JsonWriter w, string property, IReadOnlyList<string>? names)
    {
        if (names is { Count: > 0 })
        {
            w.WriteStartArray(property);
            foreach (var n in names)
            {
                w.WriteStringValue(n);
            }
            w.WriteEndArray();
        }
    }
}
