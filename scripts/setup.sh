#!/usr/bin/env bash
# Installs what Airlock needs on Debian 12 (run as root) and builds it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "setup: run as root (sudo bash scripts/setup.sh)" >&2; exit 1; fi
# clang + lld + wasi-libc + libclang-rt-dev-wasm32: C to wasm32-wasi (the wasm class's test fixtures)
pkgs=(crun runc runsc bubblewrap busybox-static hyperfine python3 clang zlib1g-dev util-linux iproute2 lld wasi-libc libclang-rt-dev-wasm32)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
bash scripts/wasm-fixtures.sh   # the wasm class's C test fixtures -> artifacts/wasm-fixtures
if ! command -v npm >/dev/null; then
  echo "setup: installing nodejs npm" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
bash scripts/pyodide.sh   # the v8 class's Python (Pyodide) -> artifacts/pyodide
bash scripts/npm.sh       # MCP: the Inspector CLI and reference MCP servers -> artifacts/npm
if ! command -v dotnet >/dev/null || ! dotnet --list-sdks | grep -q '^10\.'; then
  echo "setup: the .NET 10 SDK is required (https://learn.microsoft.com/dotnet/core/install/linux-debian)" >&2
  exit 1
fi
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet restore Airlock.sln --nologo -v quiet
./build.sh
echo "setup: done; the CLI is ./airlock" >&2
