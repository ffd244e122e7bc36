#!/usr/bin/env bash
# Compiles the wasm backend's test fixtures (tests/Airlock.Backends.Wasm.Tests/fixtures/*.c) to WASI preview-1
# modules with Debian's clang + lld + wasi-libc + libclang-rt-dev-wasm32. Output: artifacts/wasm-fixtures/NAME.wasm
# (or $1). Only sources newer than their module are rebuilt.   bash scripts/wasm-fixtures.sh [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
src=tests/Airlock.Backends.Wasm.Tests/fixtures
out=${1:-artifacts/wasm-fixtures}
mkdir -p "$out"
for c in "$src"/*.c; do
  wasm="$out/$(basename "${c%.c}").wasm"
  if [ ! -f "$wasm" ] || [ "$c" -nt "$wasm" ]; then
    # Debian's clang finds wasi-libc's headers and libraries for this target without --sysroot.
    clang --target=wasm32-wasi -O2 -Wall -Werror -Wl,--strip-all -o "$wasm.tmp" "$c"
    mv "$wasm.tmp" "$wasm"
  fi
done
