#!/usr/bin/env bash
# Memory per idle sandbox of the oci class: starts one long-lived sandbox per runtime, lets it settle, and reads
# its cgroup's memory charge (usage, rss, page cache). The wasm and v8 classes: see bench/wasm.sh (a wasm sandbox
# holds no instance between execs) and bench/v8.sh (idle worker charge).   sudo bash bench/idle-memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export AIRLOCK_HOME=${AIRLOCK_HOME:-$(mktemp -d /var/tmp/airlock-idle-XXXX)}
echo "| runtime | cgroup usage | rss | cache |"
echo "| --- | ---: | ---: | ---: |"
for rt in crun runc runsc; do
  id=$(./artifacts/bin/airlock sandbox create --runtime "$rt" 2>/dev/null)
  sleep 2
  dir=$(find /sys/fs/cgroup/memory -maxdepth 3 -type d -name "$id" | head -1)
  usage=$(cat "$dir/memory.usage_in_bytes")
  rss=$(awk '$1=="total_rss"{print $2}' "$dir/memory.stat")
  cache=$(awk '$1=="total_cache"{print $2}' "$dir/memory.stat")
  printf '| %s | %.1f MiB | %.1f MiB | %.1f MiB |\n' "$rt" "$(echo "$usage/1048576" | bc -l)" "$(echo "$rss/1048576" | bc -l)" "$(echo "$cache/1048576" | bc -l)"
  ./artifacts/bin/airlock sandbox rm "$id" >/dev/null
done
