using System.Text.Json.Serialization;
using Airlock.Core.Backends;
using Airlock.Core.Model;

namespace Airlock.Core;

/// <summary>Source-generated JSON for the core model (trimming- and NativeAOT-safe). Unknown fields are errors.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    WriteIndented = true)]
[JsonSerializable(typeof(SandboxTemplate))]
[JsonSerializable(typeof(SandboxRecord))]
public sealed partial class CoreJson : JsonSerializerContext;
