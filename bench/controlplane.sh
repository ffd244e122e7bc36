#!/usr/bin/env bash
# Control-plane benchmark: claim from a warm pool -> first exec result (p50/p99 over CLAIMS claims), against a cold
# claim in the same run; creation throughput with a pool refilling; `airlock run` through the daemon vs embedded.
#
#   sudo bash bench/controlplane.sh                 # CLAIMS=200 COLD=30 FILL=100 CLI_RUNS=50
#
# Starts its own daemon on a fresh data directory, prints a table and writes bench/results/controlplane.md.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x artifacts/bin/airlock ] && [ -x artifacts/server/airlock-server ] || ./build.sh
dotnet build bench/ControlPlane -c Release --nologo -v quiet -clp:ErrorsOnly >/dev/null
data=$(mktemp -d /var/tmp/airlock-bench-XXXXXX)
chmod 711 "$data"
export AIRLOCK_HOME=$data/cli-home
token=$(artifacts/bin/airlock token create --data-dir "$data" --tenant bench)
DOTNET_PerfMapEnabled=${PERFMAP:-0} artifacts/bin/airlock serve --data-dir "$data" --max-concurrent-creates "${CREATES:-8}" 2>"$data/daemon.log" &
daemon=$!
cleanup() { kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; rm -rf "$data"; }
trap cleanup EXIT
for _ in $(seq 100); do [ -S "$data/airlock.sock" ] && break; sleep 0.1; done
export AIRLOCK_HOST=unix:$data/airlock.sock AIRLOCK_TOKEN=$token AIRLOCK_CLI=$PWD/artifacts/bin/airlock
load=$(cut -d' ' -f1 /proc/loadavg)
out=$(dotnet bench/ControlPlane/bin/Release/net10.0/controlplane-bench.dll)
mkdir -p bench/results
{
  echo "# Control-plane benchmark ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "Command: \`sudo bash bench/controlplane.sh\` (CLAIMS=${CLAIMS:-200} COLD=${COLD:-30} FILL=${FILL:-100} CLI_RUNS=${CLI_RUNS:-50});"
  echo "$(nproc) cores, load average before: $load; crun $(crun --version | head -1 | awk '{print $3}')."
  echo
  echo "$out"
} | tee bench/results/controlplane.md
