#!/usr/bin/env bash
# wasm class: instantiate + run of a cached small module through WasmBackend.RunAsync vs a raw Wasmtime .NET loop,
# p50 and executions/s on 2 threads, side by side in one process.   bash bench/wasm.sh   (ITERATIONS=3000 SECONDS_PER_CASE=3)
# Needs root for the tmpfs-workspace case (as the backend itself does).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/wasm-fixtures.sh
dotnet build bench/Wasm -c Release --nologo -v quiet -clp:ErrorsOnly | grep -v "^$" >&2 || true
mkdir -p bench/results
{
  echo "# wasm class benchmark ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "Command: \`bash bench/wasm.sh\` (ITERATIONS=${ITERATIONS:-3000} SECONDS_PER_CASE=${SECONDS_PER_CASE:-3}); $(nproc) cores, load average before: $(cut -d' ' -f1 /proc/loadavg)."
  echo
  dotnet bench/Wasm/bin/Release/net10.0/wasm-bench.dll artifacts/wasm-fixtures/noop.wasm "${ITERATIONS:-3000}" "${SECONDS_PER_CASE:-3}"
} | tee bench/results/wasm.md
