#!/usr/bin/env bash
# Installs the npm package `pyodide` (the Python runtime of the v8 isolation class) into artifacts/pyodide
# (or $1). The V8 backend's worker loads pyodide.asm.js, pyodide.asm.wasm and python_stdlib.zip from
# <dir>/node_modules/pyodide. Idempotent: does nothing when the pinned version is already there.
#   bash scripts/pyodide.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
version=314.0.7
dir=${1:-artifacts/pyodide}
pkg="$dir/node_modules/pyodide/package.json"
if [ -f "$pkg" ] && grep -q "\"version\": \"$version\"" "$pkg"; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "pyodide.sh: npm is required (apt-get install npm)" >&2
  exit 1
fi
mkdir -p "$dir"
npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "pyodide@$version" >&2
