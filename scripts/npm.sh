#!/usr/bin/env bash
# Installs the npm packages the MCP tests use into artifacts/npm (gitignored): the Inspector CLI as a real MCP client,
# and two reference MCP servers for the gateway. Versions are pinned; run from scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null; then
  echo "npm.sh: npm is required (apt-get install nodejs npm)" >&2
  exit 1
fi
mkdir -p artifacts/npm
npm install --prefix artifacts/npm --no-audit --no-fund --loglevel=error \
  @modelcontextprotocol/inspector-cli@1.0.3 \
  @modelcontextprotocol/server-filesystem@2026.8.31 \
  @modelcontextprotocol/server-everything@2026.8.31
