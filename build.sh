#!/usr/bin/env bash
# Builds the NativeAOT CLI and in-sandbox agent into artifacts/bin (the CLI finds the agent next to itself), and the
# daemon (airlock-server: ASP.NET Core + SQLite, framework-dependent) into artifacts/server, where the CLI finds it.
set -euo pipefail
cd "$(dirname "$0")"
out=artifacts/bin
mkdir -p "$out"
dotnet publish src/Airlock.Guest -c Release -r linux-x64 -p:PublishAot=true -o "$out" --nologo -v quiet -clp:ErrorsOnly
dotnet publish src/Airlock.Cli -c Release -r linux-x64 -p:PublishAot=true -o "$out" --nologo -v quiet -clp:ErrorsOnly
dotnet publish src/Airlock.Server -c Release -o artifacts/server --nologo -v quiet -clp:ErrorsOnly
rm -f "$out"/*.dbg
touch "$out/.built"
