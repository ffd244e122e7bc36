#!/usr/bin/env bash
# Runs every test against real runtimes (crun, runc, runsc). Needs root; run scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build Airlock.sln -c Release --nologo -v quiet -clp:ErrorsOnly
# Style is part of the build: warnings are errors (Directory.Build.props) and formatting must be clean.
dotnet format Airlock.sln --verify-no-changes --no-restore
mkdir -p artifacts
rc=0
# One test project at a time (-m:1): several assemblies at once on two cores starve the timed tests (CPU quota,
# bandwidth) and the jailed workers of each other.
dotnet test Airlock.sln -c Release --no-build --nologo -v quiet -m:1 --logger "console;verbosity=normal" > artifacts/test.log 2>&1 || rc=$?
cat artifacts/test.log
# One closing line in the plain format CI reads.
count() { { grep -Eo "^ +$1: +[0-9]+" artifacts/test.log || true; } | awk '{s+=$2} END {print s+0}'; }
passed=$(count Passed)
failed=$(count Failed)
skipped=$(count Skipped)
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ] && [ "$rc" = 0 ] && [ "$passed" -gt 0 ]
