using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Airlock.ControlPlane.Telemetry;

/// <summary>Traces and metrics of the control plane. Free when no listener is attached; the daemon attaches the
/// OpenTelemetry SDK (OTLP exporter) only when configured.</summary>
public static class AirlockTelemetry
{
    public const string Name = "Airlock";
    public static readonly ActivitySource Source = new(Name);
    public static readonly Meter Meter = new(Name);

    public static readonly Histogram<double> ClaimLatency = Meter.CreateHistogram<double>("airlock.claim.duration", "ms", "Time from a claim request to a ready sandbox");
    public static readonly Histogram<double> ExecLatency = Meter.CreateHistogram<double>("airlock.exec.duration", "ms", "Duration of execs");
    public static readonly Counter<long> SandboxesCreated = Meter.CreateCounter<long>("airlock.sandboxes.created", "{sandbox}", "Sandboxes created");
}
