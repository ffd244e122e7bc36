#!/usr/bin/env bash
# Egress proxy overhead on loopback: small-request latency and download throughput, direct vs through the proxy,
# side by side in one process.   bash bench/egress.sh   (REQUESTS=500 MB=256)
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build bench/Egress -c Release --nologo -v quiet -clp:ErrorsOnly >/dev/null
mkdir -p bench/results
{
  echo "# Egress proxy benchmark ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "Command: \`bash bench/egress.sh\` (REQUESTS=${REQUESTS:-500} MB=${MB:-256}); $(nproc) cores, load average before: $(cut -d' ' -f1 /proc/loadavg)."
  echo
  dotnet bench/Egress/bin/Release/net10.0/egress-bench.dll
} | tee bench/results/egress.md
