#!/usr/bin/env bash
# MCP gateway overhead per tool call: gateway → sandboxed upstream → back (screening and audit on) minus a direct
# McpClient call to the same upstream, A/B in one run.   sudo bash bench/mcp-gateway.sh   (CALLS=200 ROUNDS=5)
# Needs ./build.sh (artifacts/bin, artifacts/server) and scripts/npm.sh (server-everything).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) -eq 0 ]] || { echo "run as root (upstreams run in sandboxes)" >&2; exit 2; }
dotnet build bench/McpGateway -c Release --nologo -v quiet -clp:ErrorsOnly >/dev/null
mkdir -p bench/results
{
  echo "# MCP gateway benchmark ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "Command: \`sudo bash bench/mcp-gateway.sh\` (CALLS=${CALLS:-200} ROUNDS=${ROUNDS:-5}); $(nproc) cores, load average before: $(cut -d' ' -f1 /proc/loadavg)."
  echo
  dotnet bench/McpGateway/bin/Release/net10.0/mcp-gateway-bench.dll
} | tee bench/results/mcp-gateway.md
