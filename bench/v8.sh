#!/usr/bin/env bash
# v8 class: JS exec p50 through the jailed worker vs a bare ClearScript engine in-process; Python exec p50 from a
# waiting fresh interpreter vs `node` loading pyodide cold; memory per idle worker. Side by side in one run.
#   bash bench/v8.sh   (JS_ITERATIONS=500 PY_ITERATIONS=20 NODE_ITERATIONS=5). Needs root (worker cgroup), bwrap, node.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/pyodide.sh
dotnet build bench/V8 -c Release --nologo -v quiet -clp:ErrorsOnly | grep -v "^$" >&2 || true
mkdir -p bench/results
{
  echo "# v8 class benchmark ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "Command: \`bash bench/v8.sh\` (JS_ITERATIONS=${JS_ITERATIONS:-500} PY_ITERATIONS=${PY_ITERATIONS:-20} NODE_ITERATIONS=${NODE_ITERATIONS:-5}); $(nproc) cores, load average before: $(cut -d' ' -f1 /proc/loadavg); node $(node --version)."
  echo
  dotnet bench/V8/bin/Release/net10.0/v8-bench.dll "$PWD/artifacts/pyodide/node_modules/pyodide" "${JS_ITERATIONS:-500}" "${PY_ITERATIONS:-20}" "${NODE_ITERATIONS:-5}"
} | tee bench/results/v8.md
